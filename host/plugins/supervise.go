package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// Supervision. Every HealthEvery the supervisor checks that a plugin's
// process runs and answers a ping within PingTimeout; one that does not is
// killed and, after a wait, replaced. The wait doubles with each failure
// in a row, 1 s, 2 s, 4 s... up to 30 s, and a process that runs for
// StableAfter ends the row.
//
// The host gives up on a plugin, which then stays down until an operator
// restarts it, in two cases only: it cannot be started three times in a
// row, or it crash-loops, failing three times in a row without a process
// of it ever running for StableAfter. Once a process of the plugin has run
// fine, the host keeps bringing it back for as long as it starts, so that
// whatever kills it (a request it mishandles, the kernel's OOM killer)
// takes it down for a while, never until an operator acts.

// The states of a plugin.
const (
	StateRunning    = "running"    // a process is in service
	StateRestarting = "restarting" // down, to be started again
	StateFailed     = "failed"     // down until an operator restarts it
)

// giveUpAfter is how many failures in a row give up on a plugin that
// cannot start or crash-loops.
const giveUpAfter = 3

// maxBackoff bounds the wait before a restart.
const maxBackoff = 30 * time.Second

// record is the supervisor's account of a plugin's processes: what it
// decides on and what Status reports.
type record struct {
	since      time.Time // when the plugin entered its state
	restarts   int       // processes started after the first
	failures   int       // in a row: since a process last ran for StableAfter
	startFails int       // starts that failed, in a row
	lastFail   time.Time
	proven     bool // a process has run for StableAfter
	failed     bool // given up on until Restart
}

// errClosed is Restart's answer once the runtime is closed.
var errClosed = errors.New("the plugin runtime is closed")

// supervise watches the plugin until ctx ends.
func (p *Plugin) supervise(ctx context.Context) {
	t := time.NewTicker(p.opts.HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		proc, failed := p.proc, p.record.failed
		p.mu.Unlock()
		switch {
		case failed:
		case proc != nil:
			if err := proc.healthy(p.opts.PingTimeout); err != nil {
				p.down(proc, err)
			} else {
				p.steady(proc)
			}
		case p.due():
			p.relaunch(ctx)
		}
	}
}

// steady notes a process that has run for StableAfter: the failures
// before it are over.
func (p *Plugin) steady(proc *process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == proc && p.opts.Now().Sub(proc.started) >= p.opts.StableAfter {
		p.record.proven, p.record.failures = true, 0
	}
}

// down takes a failed process out of service and counts the failure.
func (p *Plugin) down(proc *process, cause error) {
	proc.kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != proc {
		return
	}
	p.proc = nil
	now := p.opts.Now()
	ran := now.Sub(proc.started)
	if ran >= p.opts.StableAfter {
		p.record.proven, p.record.failures = true, 0
	}
	p.record.since = now
	p.failLocked(now, cause, "ran", ran.Round(time.Millisecond).String())
}

// startFailedLocked counts a start that failed.
func (p *Plugin) startFailedLocked(cause error) {
	p.record.startFails++
	p.failLocked(p.opts.Now(), cause, "starts_failed", p.record.startFails)
}

// failLocked counts a failure, and gives up on a plugin that cannot start
// or crash-loops.
func (p *Plugin) failLocked(now time.Time, cause error, attrs ...any) {
	r := &p.record
	r.failures++
	r.lastFail = now
	attrs = append(attrs, "plugin", p.Manifest.ID, "err", cause, "failures", r.failures)
	switch {
	case r.startFails >= giveUpAfter:
		r.failed, r.since = true, now
		p.opts.Logger.Error("plugin cannot be started; it stays down until an operator restarts it", attrs...)
	case !r.proven && r.failures >= giveUpAfter:
		r.failed, r.since = true, now
		p.opts.Logger.Error("plugin keeps failing right after it starts; it stays down until an operator restarts it", attrs...)
	default:
		p.opts.Logger.Warn("plugin is down; restarting it", append(attrs, "in", backoff(r.failures).String())...)
	}
}

// backoff is the wait before a restart after failures in a row: 1 s, then
// 2 s, 4 s... up to maxBackoff.
func backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	if failures > 6 {
		return maxBackoff
	}
	return min(time.Second<<(failures-1), maxBackoff)
}

// due reports whether the wait since the last failure is over.
func (p *Plugin) due() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opts.Now().Sub(p.record.lastFail) >= backoff(p.record.failures)
}

// relaunch starts a process in place of the one that failed, unless an
// operator's Restart is starting one already.
func (p *Plugin) relaunch(ctx context.Context) {
	if !p.launching.TryLock() {
		return // Restart is at it; the next tick sees how it went
	}
	defer p.launching.Unlock()
	p.mu.Lock()
	due := p.proc == nil && !p.record.failed && !p.stopped
	p.mu.Unlock()
	if due && p.startProcess(ctx) == nil {
		p.opts.Logger.Info("plugin restarted", "plugin", p.Manifest.ID)
	}
}

// startProcess launches a process of the plugin and puts it in service; a
// start that fails counts as a failure. The caller holds p.launching and
// has seen no process in service.
func (p *Plugin) startProcess(ctx context.Context) error {
	proc, m, err := launch(ctx, p.Path, p.opts, p.sockets)
	if err == nil && m.GetId() != p.Manifest.ID {
		proc.kill()
		err = fmt.Errorf("the binary now says it is plugin %q", m.GetId())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped { // closed meanwhile
		if err == nil {
			proc.stop()
		}
		return errClosed
	}
	if err != nil {
		p.startFailedLocked(err)
		return err
	}
	p.proc = proc
	p.record.since = proc.started
	p.record.restarts++
	p.record.startFails = 0
	return nil
}

// Restart takes the plugin back into service now (an operator's call): its
// failures are forgotten and, unless its process is running, a new one is
// started at once, without waiting for the backoff. A running process is
// left as it is, so that restarting a healthy plugin cuts no call short.
//
// Restart returns once the plugin runs, or with the reason its start
// failed, within the start timeout; the start does not depend on ctx being
// cancelled, so a caller that leaves does not abort it half-way. A failed
// start is the first failure of a fresh count: the supervisor retries it
// with backoff.
func (p *Plugin) Restart(ctx context.Context) error {
	p.launching.Lock() // waits for a start of the supervisor's, if any
	defer p.launching.Unlock()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return fmt.Errorf("plugin %s: %w", p.Manifest.ID, errClosed)
	}
	running := p.proc != nil
	r := &p.record
	if !running && r.failed {
		r.since = p.opts.Now() // failed no more: restarting
	}
	r.failed, r.failures, r.startFails = false, 0, 0
	p.mu.Unlock()
	if running {
		return nil
	}
	if err := p.startProcess(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Manifest.ID, err)
	}
	return nil
}

// Pid is the process id of the plugin's process in service, 0 while down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.run.processID()
}

// Status is a plugin's state with what an operator needs to judge it.
type Status struct {
	State string    // StateRunning, StateRestarting or StateFailed
	Since time.Time // when it entered State
	// Restarts counts the processes started after the first, by the
	// supervisor or an operator.
	Restarts int
	// Failures counts failures in a row: since a process last ran for
	// StableAfter, or since an operator's restart.
	Failures int
	// NextStart is when the supervisor starts it again, while restarting;
	// zero otherwise.
	NextStart time.Time
}

// Status returns the plugin's state and account.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.record
	s := Status{State: StateRestarting, Since: r.since, Restarts: r.restarts, Failures: r.failures}
	switch {
	case p.proc != nil:
		s.State = StateRunning
	case r.failed:
		s.State = StateFailed
	default:
		s.NextStart = r.lastFail.Add(backoff(r.failures))
	}
	return s
}

// State is StateRunning, StateRestarting or StateFailed.
func (p *Plugin) State() string { return p.Status().State }

// Running reports whether the plugin's process is in service.
func (p *Plugin) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil
}

// rpc returns the client of the process in service.
func (p *Plugin) rpc() (pluginv1.PluginClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Manifest.ID, ErrUnavailable)
	}
	return p.proc.rpc, nil
}

func (p *Plugin) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.stop()
		p.proc = nil
	}
	p.record.failed, p.stopped = true, true // no restart, by the supervisor or Restart
}
