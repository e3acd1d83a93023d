package plugins

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// callLimit bounds how many calls to a plugin's routes each install may
// have running at once. The plugin's one process serves every install: an
// install whose calls hang, or that floods the plugin, is refused at once
// beyond its share, never queued, while the others go on as before.
type callLimit struct {
	max     int
	timeout time.Duration // a call's deadline: its slot is free by then
	now     func() time.Time

	mu      sync.Mutex
	running map[string][]*time.Time // by install id: when its calls started
}

func newCallLimit(max int, timeout time.Duration, now func() time.Time) *callLimit {
	return &callLimit{max: max, timeout: timeout, now: now, running: map[string][]*time.Time{}}
}

// BusyError refuses a call to a plugin's routes: the install has as many
// calls running in the plugin as it may.
type BusyError struct {
	Plugin string
	Limit  int
	// RetryAfter is when, at the latest, one of the install's calls will
	// have ended (they are cut at their deadline): whole seconds, at least
	// one.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("plugin %s: the install has %d calls running in it, as many as it may; one ends within %s",
		e.Plugin, e.Limit, e.RetryAfter)
}

// enter admits a call of install and returns the function that ends it,
// or refuses it with a *BusyError.
func (l *callLimit) enter(plugin, install string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	calls := l.running[install]
	if len(calls) >= l.max {
		oldest := *calls[0]
		for _, t := range calls[1:] {
			if t.Before(oldest) {
				oldest = *t
			}
		}
		wait := (oldest.Add(l.timeout).Sub(now) + time.Second - 1).Truncate(time.Second) // in whole seconds, up
		return nil, &BusyError{Plugin: plugin, Limit: l.max, RetryAfter: max(wait, time.Second)}
	}
	started := &now
	l.running[install] = append(calls, started)
	return func() { l.leave(install, started) }, nil
}

func (l *callLimit) leave(install string, started *time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := slices.DeleteFunc(l.running[install], func(t *time.Time) bool { return t == started })
	if len(calls) == 0 {
		delete(l.running, install)
		return
	}
	l.running[install] = calls
}
