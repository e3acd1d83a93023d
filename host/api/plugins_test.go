package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

var (
	buildFaulty  sync.Once
	pluginBuilds string // a plugin directory holding faulty; removed by TestMain
	buildErr     error
)

// withFaulty runs host/plugins/testdata/faulty as the host does, gives it
// to the fixture's service and activates it in acme.
func withFaulty(t *testing.T, f fixture) {
	t.Helper()
	buildFaulty.Do(func() {
		if pluginBuilds, buildErr = os.MkdirTemp("", "crmguard-api-plugins"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(pluginBuilds, "faulty"),
			"github.com/crmguard/crmguard/host/plugins/testdata/faulty").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatalf("build faulty: %v", buildErr)
	}
	rt, err := plugins.Start(context.Background(), plugins.Options{Dir: pluginBuilds, Host: f.svc.PluginHost(), HealthEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	if p := rt.Problems(); len(p) > 0 {
		t.Fatalf("faulty did not start: %+v", p)
	}
	f.svc.UsePlugins(rt)
	if r := f.admin.do("POST", "/v1/plugins/faulty/activate", nil); r.status != 200 {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

const faultyAPI = "/v1/plugins/faulty/api"

func TestPanickingPluginHooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		withFaulty(t, f)
		const settings = "/v1/plugins/faulty/settings"
		put := func(body string) {
			t.Helper()
			if r := f.admin.do("PUT", settings, body); r.status != 200 {
				t.Fatalf("settings %s: %d %s", body, r.status, r.body)
			}
		}
		failed := func(what string, r response) {
			t.Helper()
			if r.status != 500 || r.errorCode(t) != "plugin_error" || !strings.Contains(string(r.body), "plugin faulty") {
				t.Fatalf("%s: %d %s, want 500 plugin_error naming the plugin", what, r.status, r.body)
			}
		}
		leads := func() int {
			t.Helper()
			return len(f.admin.do("GET", "/v1/records/lead", nil).json(t)["items"].([]any))
		}
		f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "before"}})

		// Settings validation: the settings are not stored.
		failed("settings", f.admin.do("PUT", settings, `{"panic_in":["settings"]}`))
		if r := f.admin.do("GET", settings, nil); strings.Contains(string(r.body), "panic_in") {
			t.Fatalf("refused settings were stored: %s", r.body)
		}

		// Policy: nothing is shown without it.
		put(`{"panic_in":["policy"]}`) // voids acme's cached permissions
		failed("list", f.alice.do("GET", "/v1/records/lead", nil))
		failed("create", f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "x"}}))
		if r := f.mallory.do("GET", "/v1/records/lead", nil); r.status != 200 { // globex does not have it active
			t.Fatalf("another install: %d %s", r.status, r.body)
		}

		// Before-write: nothing is written.
		put(`{"panic_in":["before_write"]}`)
		if n := leads(); n != 1 {
			t.Fatalf("%d leads, want 1", n)
		}
		failed("create", f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "x"}}))
		if n := leads(); n != 1 {
			t.Fatalf("%d leads after a refused create, want 1", n)
		}

		// Activation: the plugin stays inactive.
		put(`{"panic_in":["activate"]}`)
		if r := f.admin.do("POST", "/v1/plugins/faulty/deactivate", nil); r.status != 200 {
			t.Fatalf("deactivate: %d %s", r.status, r.body)
		}
		failed("activate", f.admin.do("POST", "/v1/plugins/faulty/activate", nil))
		listed := f.admin.do("GET", "/v1/plugins", nil).json(t)["plugins"].([]any)
		if p := listed[0].(map[string]any); p["active"] != false || p["running"] != true {
			t.Fatalf("after a failed activation: %v", p)
		}
		// Without the panics, it serves again.
		put(`{}`)
		if r := f.admin.do("POST", "/v1/plugins/faulty/activate", nil); r.status != 200 {
			t.Fatalf("activate: %d %s", r.status, r.body)
		}
		if r := f.alice.do("GET", "/v1/records/lead", nil); r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
	})
}
