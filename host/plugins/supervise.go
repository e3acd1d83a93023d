package plugins

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// errClosed is Restart's answer once the runtime is closed.
var errClosed = errors.New("the plugin runtime is closed")

// supervise watches the plugin until ctx ends: a process that exited or
// does not answer a ping is replaced, after a backoff; the third failure
// within an hour leaves the plugin down until Restart.
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
		proc, failed := p.proc, p.failed
		p.mu.Unlock()
		switch {
		case failed:
		case proc != nil:
			if err := proc.healthy(); err != nil {
				p.down(proc, err)
			}
		case p.backedOff():
			p.relaunch(ctx)
		}
	}
}

// down takes a failed process out of service and counts the failure.
func (p *Plugin) down(proc *process, cause error) {
	proc.client.Kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != proc {
		return
	}
	p.proc = nil
	p.failLocked(cause)
}

// failLocked counts a failure; the third within an hour gives up.
func (p *Plugin) failLocked(cause error) {
	now := time.Now()
	p.failures = append(slices.DeleteFunc(p.failures, func(t time.Time) bool { return now.Sub(t) > time.Hour }), now)
	if len(p.failures) >= 3 {
		p.failed = true
		p.opts.Logger.Error("plugin failed three times within an hour; it stays down until restarted", "plugin", p.Manifest.ID, "err", cause)
		return
	}
	p.opts.Logger.Warn("plugin is down; restarting it", "plugin", p.Manifest.ID, "err", cause, "failures", len(p.failures))
}

// backedOff reports whether the wait since the last failure is over: 1 s,
// then 2 s, 4 s... up to 30 s.
func (p *Plugin) backedOff() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return true
	}
	wait := min(time.Second<<(len(p.failures)-1), 30*time.Second)
	return time.Since(p.failures[len(p.failures)-1]) >= wait
}

// relaunch starts a process in place of the one that failed, unless an
// operator's Restart is starting one already.
func (p *Plugin) relaunch(ctx context.Context) {
	if !p.launching.TryLock() {
		return // Restart is at it; the next tick sees how it went
	}
	defer p.launching.Unlock()
	p.mu.Lock()
	due := p.proc == nil && !p.failed && !p.stopped
	p.mu.Unlock()
	if due && p.startProcess(ctx) == nil {
		p.opts.Logger.Info("plugin restarted", "plugin", p.Manifest.ID)
	}
}

// startProcess launches a process of the plugin and puts it in service; a
// start that fails counts as a failure. The caller holds p.launching and
// has seen no process in service.
func (p *Plugin) startProcess(ctx context.Context) error {
	proc, m, err := launch(ctx, p.Path, p.opts)
	if err == nil && m.GetId() != p.Manifest.ID {
		proc.client.Kill()
		err = fmt.Errorf("the binary now says it is plugin %q", m.GetId())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped { // closed meanwhile
		if err == nil {
			proc.client.Kill()
		}
		return errClosed
	}
	if err != nil {
		p.failLocked(err)
		return err
	}
	p.proc = proc
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
	p.failed, p.failures = false, nil
	running := p.proc != nil
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
	if rc := p.proc.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// State is "running", "restarting" (down, to be started again) or
// "failed" (down until an operator restarts it).
func (p *Plugin) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.proc != nil:
		return "running"
	case p.failed:
		return "failed"
	}
	return "restarting"
}

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
		p.proc.client.Kill()
		p.proc = nil
	}
	p.failed, p.stopped = true, true // no restart, by the supervisor or Restart
}
