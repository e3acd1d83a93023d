package api_test

import (
	"context"
	"net/url"
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

func TestPluginPaths(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		withFaulty(t, f)

		t.Run("Refused", func(t *testing.T) {
			for _, tc := range []struct{ path, say string }{
				{"/echo/a%00b", "control character"},
				{"/echo/a%01b", "control character"},
				{"/echo/a%09b", "control character"},
				{"/echo/a%0Ab", "control character"},
				{"/echo/a%0db", "control character"},
				{"/echo/%1f", "control character"},
				{"/echo/a%7fb", "control character"},
				{"/echo/a%c2%85b", "control character"}, // U+0085, a C1 control
				{"/echo/a%ffb", "not UTF-8"},
				{"/echo/%c3%28", "not UTF-8"},
				{"/echo/..", "dot segment"},
				{"/echo/.", "dot segment"},
				{"/echo/x/../../redirect", "dot segment"},
				{"/echo/%2e%2e", "dot segment"},
				{"/echo/.%2E", "dot segment"},
				{"/echo/%2e", "dot segment"},
				{"/echo//x", "empty segment"},
				{"//echo", "empty segment"},
			} {
				r := f.alice.do("GET", faultyAPI+tc.path, nil)
				if code := r.errorCode(t); r.status != 400 || code != "invalid_path" || !strings.Contains(string(r.body), tc.say) {
					t.Errorf("%s: %d %s, want 400 invalid_path saying %q", tc.path, r.status, r.body, tc.say)
				}
			}
			r := f.alice.do("GET", "/v1/plugins/faul%74y/api/echo/x", nil)
			if code := r.errorCode(t); r.status != 400 || code != "invalid_path" {
				t.Errorf("an encoded plugin id: %d %s", r.status, r.body)
			}
		})

		t.Run("Forwarded", func(t *testing.T) {
			for _, tc := range []struct{ path, rest, query string }{
				{"/echo/a%20b", "a b", ""},
				{"/echo/a%25b", "a%b", ""},
				{"/echo/a%25", "a%", ""},
				{"/echo/a%3fb", "a?b", ""}, // an encoded ? is part of the path
				{"/echo/a%3Fb?q=1", "a?b", "q=1"},
				{"/echo/a%2fb/c", "a/b/c", ""}, // and so is an encoded /
				{"/echo/%23x", "#x", ""},
				{"/echo/é%C3%A9", "éé", ""},
				{"/echo/a/", "a/", ""},
				{"/echo/..a/a..", "..a/a..", ""},
			} {
				r := f.alice.do("GET", faultyAPI+tc.path, nil)
				if r.status != 200 {
					t.Errorf("%s: %d %s", tc.path, r.status, r.body)
					continue
				}
				got := r.json(t)
				if got["rest"] != tc.rest || got["query"] != tc.query {
					t.Errorf("%s reached the plugin as %v, want rest %q and query %q", tc.path, got, tc.rest, tc.query)
				}
			}
			// Header values and a query that are not UTF-8 (which the
			// plugin protocol's strings cannot carry) reach the plugin all
			// the same: invalid bytes of a header as U+FFFD, a query's
			// percent-encoded, which decodes to the bytes sent.
			got := f.alice.do("GET", faultyAPI+"/echo/x?q=caf\xe9&r=%FF", nil, "X-Test", "caf\xe9 cr\xe8me")
			if got.status != 200 {
				t.Fatalf("a header and a query that are not UTF-8: %d %s", got.status, got.body)
			}
			if echo := got.json(t); echo["header"] != "caf\ufffd cr\ufffdme" || echo["query"] != "q=caf%E9&r=%FF" {
				t.Errorf("a header and a query that are not UTF-8 reached the plugin as %q", echo)
			}
			// The path as written reaches the plugin: an encoded / is
			// not a separator there.
			if got := f.alice.do("GET", faultyAPI+"/echo/a%2Fb", nil).json(t); got["escaped"] != "/echo/a%2Fb" || got["path"] != "/echo/a/b" {
				t.Errorf("a%%2Fb reached the plugin as %v", got)
			}
		})

		t.Run("Redirects", func(t *testing.T) {
			for _, tc := range []struct{ to, want string }{
				{"/x", faultyAPI + "/x"},
				{"/", faultyAPI + "/"},
				{"x/y", faultyAPI + "/x/y"}, // relative to /redirect
				{"../../../..", faultyAPI + "/"},
				{"/../../v1/me", faultyAPI + "/v1/me"},
				{"/a/../../b?c=d#e", faultyAPI + "/b?c=d#e"},
				{"/a%2Fb", faultyAPI + "/a%2Fb"},
				{`/\evil.example`, faultyAPI + "/%5Cevil.example"},
			} {
				r := f.alice.do("GET", faultyAPI+"/redirect?to="+url.QueryEscape(tc.to), nil)
				if r.status != 307 || r.header.Get("Location") != tc.want {
					t.Errorf("redirect to %q: %d Location %q, want 307 %q", tc.to, r.status, r.header.Get("Location"), tc.want)
				}
			}
			for _, to := range []string{"//evil.example/x", "https://evil.example/", "http:evil", "javascript:alert(1)", "mailto:a@b.test", "/\x00"} {
				r := f.alice.do("GET", faultyAPI+"/redirect?to="+url.QueryEscape(to), nil)
				if code := r.errorCode(t); r.status != 500 || code != "plugin_error" || r.header.Get("Location") != "" ||
					!strings.Contains(string(r.body), "plugin faulty") {
					t.Errorf("redirect to %q: %d %s Location %q, want 500 plugin_error and no Location", to, r.status, r.body, r.header.Get("Location"))
				}
			}
			// The router's own redirects stay under the prefix too.
			if r := f.alice.do("GET", faultyAPI+"/dir", nil); r.status != 307 || r.header.Get("Location") != faultyAPI+"/dir/" {
				t.Errorf("GET /dir: %d Location %q", r.status, r.header.Get("Location"))
			}
		})

		t.Run("UnknownRoutes", func(t *testing.T) {
			if r := f.alice.do("GET", faultyAPI+"/nothing/here", nil); r.status != 404 || r.errorCode(t) != "no_route" {
				t.Errorf("unknown route: %d %s", r.status, r.body)
			}
			r := f.alice.do("DELETE", faultyAPI+"/redirect", nil)
			if r.status != 405 || r.errorCode(t) != "method_not_allowed" || r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("wrong method: %d %s %v", r.status, r.body, r.header)
			}
		})

		t.Run("PanickingRoute", func(t *testing.T) {
			r := f.alice.do("GET", faultyAPI+"/panic", nil)
			if r.status != 500 || r.errorCode(t) != "plugin_error" || !strings.Contains(string(r.body), "plugin faulty") {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r := f.alice.do("GET", faultyAPI+"/echo/after", nil); r.status != 200 {
				t.Fatalf("after the panic: %d %s", r.status, r.body)
			}
		})
	})
}

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

// TestBodiesAreUTF8: JSON is UTF-8 (RFC 8259), and a body that is not is
// refused as it arrives, before anything is stored: settings kept as sent
// would otherwise be refused by the database (a 500 on MySQL).
func TestBodiesAreUTF8(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		withFaulty(t, f)
		for _, tc := range []struct{ method, path, body string }{
			{"PUT", "/v1/plugins/faulty/settings", "{\"x\":\"\xff\xfe\"}"},
			{"PUT", "/v1/settings", "{\"assign_by\":\"own\xe9rs\"}"},
			{"POST", "/v1/records/lead", "{\"data\":{\"name\":\"caf\xe9\"}}"},
		} {
			r := f.admin.do(tc.method, tc.path, tc.body)
			if r.status != 400 || r.errorCode(t) != "invalid_json" || !strings.Contains(string(r.body), "UTF-8") {
				t.Errorf("%s %s with a body that is not UTF-8: %d %s, want 400 invalid_json", tc.method, tc.path, r.status, r.body)
			}
		}
		if got := f.admin.do("GET", "/v1/plugins/faulty/settings", nil); strings.Contains(string(got.body), `"x"`) {
			t.Errorf("refused settings were stored: %s", got.body)
		}
	})
}
