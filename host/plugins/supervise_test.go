package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/sdk"
)

// clock is a clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const stableAfter = time.Minute // as the supervision tests configure it

// supervised runs hello from a directory of its own, checked every 10 ms
// on clock c, and returns the runtime, the plugin and the directory.
func supervised(t *testing.T, c *clock, reg prometheus.Registerer) (*plugins.Runtime, *plugins.Plugin, string) {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	r, err := plugins.Start(context.Background(), plugins.Options{
		Dir: dir, HealthEvery: 10 * time.Millisecond, PingTimeout: 200 * time.Millisecond,
		StableAfter: stableAfter, Now: c.Now, Registry: reg, SocketDir: socketParent(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p, ok := r.Plugin("hello")
	if !ok {
		t.Fatalf("hello did not start: %+v", r.Problems())
	}
	return r, p, dir
}

// call runs hello's policy hook.
func call(p *plugins.Plugin) error {
	_, err := p.Policy(context.Background(), sdk.Install{ID: crm.NewID(), Slug: "acme"}, sdk.User{ID: crm.NewID()}, nil,
		access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleMember}))
	return err
}

// waitFor waits up to 15 s for ok.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle gives the supervisor time for a good number of its checks (every
// 10 ms), for tests that something does not happen.
func idle() { time.Sleep(150 * time.Millisecond) }

// kill kills the plugin's process and waits until the runtime has taken
// it out of service; calls then fail, never answer without it.
func kill(t *testing.T, p *plugins.Plugin) {
	t.Helper()
	pid := p.Pid()
	if pid == 0 {
		t.Fatal("no plugin process")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the kill noticed", func() bool { return !p.Running() })
	if err := call(p); !errors.Is(err, plugins.ErrUnavailable) {
		t.Fatalf("a call to a plugin that is down: %v", err)
	}
}

// restartsAfter checks that the plugin, down, stays down until the clock
// has moved wait since its failure, and runs again once it has.
func restartsAfter(t *testing.T, c *clock, p *plugins.Plugin, wait time.Duration) {
	t.Helper()
	st := p.Status()
	if st.State != plugins.StateRestarting || !st.NextStart.Equal(c.Now().Add(wait)) {
		t.Fatalf("status %+v, want restarting, next start in %s", st, wait)
	}
	c.Add(wait - time.Millisecond)
	idle()
	if p.Running() {
		t.Fatalf("restarted before its wait of %s", wait)
	}
	c.Add(time.Millisecond)
	waitFor(t, "the restart after "+wait.String(), p.Running)
	if err := call(p); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}

// replaceBinary puts from in place of the plugin's binary, as an upgrade
// does.
func replaceBinary(t *testing.T, dir, from string) {
	t.Helper()
	tmp := filepath.Join(dir, ".next")
	copyFile(t, from, tmp, 0o755)
	if err := os.Rename(tmp, filepath.Join(dir, "hello")); err != nil {
		t.Fatal(err)
	}
}

// notAPlugin writes a program that is not a plugin.
func notAPlugin(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCrashLoop kills the plugin right after each start: it is restarted
// after 1 s, then 2 s, and the third failure in a row, none of its
// processes having run for StableAfter, leaves it down until an operator
// restarts it. The operator's restart starts it at once with its failures
// forgotten, or says why it could not; restarting a running plugin leaves
// it alone.
func TestCrashLoop(t *testing.T) {
	c := newClock()
	_, p, dir := supervised(t, c, nil)
	ctx := context.Background()

	pid := p.Pid()
	if err := p.Restart(ctx); err != nil || p.Pid() != pid || p.State() != plugins.StateRunning {
		t.Fatalf("restart of a running plugin: %v; pid %d, was %d; %s", err, p.Pid(), pid, p.State())
	}
	kill(t, p)
	restartsAfter(t, c, p, time.Second)
	c.Add(stableAfter - time.Second) // not quite long enough
	kill(t, p)
	restartsAfter(t, c, p, 2*time.Second)
	kill(t, p) // the third failure in a row
	if st := p.Status(); st.State != plugins.StateFailed || !st.Since.Equal(c.Now()) || st.Failures != 3 || st.Restarts != 2 {
		t.Fatalf("after a third failure right after a start: %+v", st)
	}
	c.Add(time.Hour)
	idle()
	if p.Running() || p.State() != plugins.StateFailed {
		t.Fatalf("a crash-looping plugin is %s without an operator", p.State())
	}

	// Restart returns once the plugin answers: no waiting after it.
	if err := p.Restart(ctx); err != nil || !p.Running() {
		t.Fatalf("the operator's restart: %v; %s", err, p.State())
	}
	if err := call(p); err != nil {
		t.Fatalf("after the operator's restart: %v", err)
	}
	if st := p.Status(); st.Failures != 0 || st.Restarts != 3 {
		t.Fatalf("after the operator's restart: %+v", st)
	}
	kill(t, p) // counted afresh: the supervisor restarts it by itself
	restartsAfter(t, c, p, time.Second)

	// A restart that cannot start the plugin says why and leaves it to the
	// supervisor as the first failure of a fresh count, not failed (this
	// kill is the second failure since the operator's restart).
	replaceBinary(t, dir, notAPlugin(t))
	kill(t, p)
	if err := p.Restart(ctx); err == nil || !strings.Contains(err.Error(), "not a crmguard plugin") || p.State() != plugins.StateRestarting {
		t.Fatalf("restart with a broken binary: %v; %s", err, p.State())
	}
	replaceBinary(t, dir, hello(t))
	restartsAfter(t, c, p, time.Second)
}

// TestKeepsComingBack: once a process of the plugin has run for
// StableAfter, the host never gives up on it for dying: killed right
// after each restart, it is restarted after 1 s, 2 s, 4 s... up to 30 s,
// as long as it starts; a process that runs for StableAfter again brings
// the wait back to 1 s. A plugin that cannot start at all, three times in
// a row, is left down until an operator restarts it.
func TestKeepsComingBack(t *testing.T) {
	c := newClock()
	_, p, dir := supervised(t, c, nil)
	c.Add(stableAfter)
	kill(t, p)
	restartsAfter(t, c, p, time.Second)
	for _, wait := range []time.Duration{2, 4, 8, 16, 30, 30} {
		kill(t, p)
		restartsAfter(t, c, p, wait*time.Second)
	}
	if st := p.Status(); st.Failures != 7 || st.Restarts != 7 {
		t.Fatalf("after seven failures: %+v", st)
	}
	c.Add(stableAfter)
	waitFor(t, "a process that ran for StableAfter ending the count", func() bool { return p.Status().Failures == 0 })
	kill(t, p)
	restartsAfter(t, c, p, time.Second)

	// The binary is replaced with one that does not start: after the
	// kill, three starts fail in a row, 1 s, 2 s and 4 s apart.
	c.Add(stableAfter)
	replaceBinary(t, dir, notAPlugin(t))
	kill(t, p)
	for failures, wait := range []time.Duration{1, 2, 4} {
		c.Add(wait * time.Second)
		waitFor(t, "a failed start", func() bool { return p.Status().Failures == failures+2 })
	}
	if st := p.Status(); st.State != plugins.StateFailed {
		t.Fatalf("after three failed starts in a row: %+v", st)
	}
	c.Add(time.Hour)
	idle()
	if p.State() != plugins.StateFailed {
		t.Fatalf("a plugin that cannot start is %s without an operator", p.State())
	}
	replaceBinary(t, dir, hello(t))
	if err := p.Restart(context.Background()); err != nil || !p.Running() {
		t.Fatalf("the operator's restart: %v; %s", err, p.State())
	}
}

// TestHungPlugin stops the plugin's process (SIGSTOP): it no longer
// answers pings, and is replaced like one that died.
func TestHungPlugin(t *testing.T) {
	c := newClock()
	_, p, _ := supervised(t, c, nil)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL) // in case the runtime did not
	waitFor(t, "the hung process taken out of service", func() bool { return !p.Running() })
	restartsAfter(t, c, p, time.Second)
	if p.Pid() == pid {
		t.Fatal("the hung process is still in service")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the hung process %d was not killed: %v", pid, err)
	}
}

// TestStateMetrics reads the plugin's state from the runtime's metrics:
// up, state and restarts, as it is killed, restarted and given up on.
func TestStateMetrics(t *testing.T) {
	c := newClock()
	reg := prometheus.NewRegistry()
	_, p, _ := supervised(t, c, reg)
	want := func(up, running, restarting, failed, restarts float64) {
		t.Helper()
		for _, m := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"crmguard_plugin_up", nil, up},
			{"crmguard_plugin_state", map[string]string{"state": "running"}, running},
			{"crmguard_plugin_state", map[string]string{"state": "restarting"}, restarting},
			{"crmguard_plugin_state", map[string]string{"state": "failed"}, failed},
			{"crmguard_plugin_restarts_total", nil, restarts},
		} {
			labels := map[string]string{"plugin": "hello"}
			for k, v := range m.labels {
				labels[k] = v
			}
			if got := metricValue(t, reg, m.name, labels); got != m.want {
				t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
			}
		}
	}
	want(1, 1, 0, 0, 0)
	kill(t, p)
	want(0, 0, 1, 0, 0)
	c.Add(time.Second)
	waitFor(t, "the restart", p.Running)
	want(1, 1, 0, 0, 1)
	kill(t, p)
	c.Add(2 * time.Second)
	waitFor(t, "the restart", p.Running)
	kill(t, p)
	want(0, 0, 0, 1, 2)
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	want(1, 1, 0, 0, 3)
}

// metricValue returns the value of the gauge or counter name with labels
// (all of its labels), failing when there is none.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}
