package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/sdk"
)

// TestCallsPerInstall: an install that has as many calls running in a
// plugin's routes as it may (here 2, held by a route that waits) is
// refused its next call at once, told when one of its calls will have
// ended at the latest; another install's calls are served meanwhile. Once
// the calls end, the first install is served again.
func TestCallsPerInstall(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, build(t, "github.com/crmguard/crmguard/host/plugins/testdata/gate"), filepath.Join(dir, "gate"), 0o755)
	c := newClock()
	reg := prometheus.NewRegistry()
	r, err := plugins.Start(context.Background(), plugins.Options{
		Dir: dir, MaxCallsPerInstall: 2, HTTPTimeout: time.Minute, Now: c.Now, Registry: reg, SocketDir: socketParent(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p, ok := r.Plugin("gate")
	if !ok {
		t.Fatalf("gate did not start: %+v", r.Problems())
	}
	acme, globex := sdk.Install{ID: crm.NewID(), Slug: "acme"}, sdk.Install{ID: crm.NewID(), Slug: "globex"}
	call := func(in sdk.Install, method, path string) (plugins.Response, error) {
		return p.HTTP(context.Background(), plugins.Request{Install: in, User: sdk.User{ID: crm.NewID()}, Method: method, Path: path})
	}
	waiting := func() int {
		t.Helper()
		resp, err := call(globex, "GET", "/waiting")
		if err != nil || resp.Status != 200 {
			t.Fatalf("globex's call while acme's wait: %v, %d", err, resp.Status)
		}
		var out struct{ Waiting int }
		if err := json.Unmarshal(resp.Body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Waiting
	}

	held := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := call(acme, "GET", "/wait")
			if err == nil && resp.Status != 200 {
				err = errors.New(string(resp.Body))
			}
			held <- err
		}()
	}
	waitFor(t, "acme's two calls waiting in the plugin", func() bool { return waiting() == 2 })
	refused := func(retryAfter time.Duration) {
		t.Helper()
		_, err := call(acme, "GET", "/waiting")
		var busy *plugins.BusyError
		if !errors.As(err, &busy) || busy.Plugin != "gate" || busy.Limit != 2 || busy.RetryAfter != retryAfter {
			t.Fatalf("acme's third call: %v, want refused, retry after %s", err, retryAfter)
		}
	}
	refused(time.Minute) // the calls started now and end within their minute
	c.Add(15*time.Second + 500*time.Millisecond)
	refused(45 * time.Second) // 44.5 s, in whole seconds
	if n := waiting(); n != 2 {
		t.Fatalf("%d calls wait, want acme's 2", n)
	}
	if resp, err := call(globex, "POST", "/open"); err != nil || resp.Status != 200 {
		t.Fatalf("open: %v %d", err, resp.Status)
	}
	for range 2 {
		if err := <-held; err != nil {
			t.Fatalf("acme's waiting call: %v", err)
		}
	}
	if resp, err := call(acme, "GET", "/waiting"); err != nil || resp.Status != 200 {
		t.Fatalf("acme's call once its calls ended: %v, %d", err, resp.Status)
	}
	if got := metricValue(t, reg, "crmguard_plugin_busy_total", map[string]string{"plugin": "gate"}); got != 2 {
		t.Fatalf("crmguard_plugin_busy_total = %v, want 2", got)
	}
}
