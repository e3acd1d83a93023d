package api

import (
	"sync"
	"time"
)

// failLimiter counts failed authentications per client address: a burst
// of mistakes is answered 401 as usual, a stream of them is slowed to one
// 401 a second and the rest are answered 429. It is asked only once a
// token has failed, so that a valid token is never refused because
// someone else at the same address (a NAT, a proxy) keeps sending bad
// ones.
//
// Each address has a "full again" time (the generic cell rate algorithm):
// a failure moves it one interval later, and a failure that would move it
// more than a burst ahead of now is refused. Durations stay exact, so the
// wait it reports is the truth to the nanosecond.
type failLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	// full is when each address's budget is whole again; an address
	// whose time has passed is as good as unknown.
	full map[string]time.Time
}

const (
	failBurst = 20
	failEvery = time.Second // one failure a second once the burst is spent
	failMax   = 100_000     // addresses tracked before whole ones are dropped
)

// newFailLimiter returns a limiter on the clock now.
func newFailLimiter(now func() time.Time) *failLimiter {
	return &failLimiter{now: now, full: map[string]time.Time{}}
}

// fail spends one of client's failures and returns 0; when client has
// none left it spends nothing and returns how long until it has one.
func (l *failLimiter) fail(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	full, known := l.full[client]
	if !known || full.Before(now) {
		full = now
	}
	next := full.Add(failEvery)
	if wait := next.Sub(now) - failBurst*failEvery; wait > 0 {
		return wait
	}
	if !known && len(l.full) >= failMax {
		l.forgetWhole(now)
	}
	l.full[client] = next
	return 0
}

// forgetWhole drops the addresses whose budget is whole again: they are
// as good as unknown.
func (l *failLimiter) forgetWhole(now time.Time) {
	for k, full := range l.full {
		if !full.After(now) {
			delete(l.full, k)
		}
	}
}
