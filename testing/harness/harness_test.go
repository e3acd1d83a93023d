package harness_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// TestWorld sets up a World and checks what tests built on it rely on:
// every plugin active in both installs, members confined to their own
// records, the share and the delegation in force.
func TestWorld(t *testing.T) {
	w := harness.NewWorld(t, harness.WorldOptions{})
	for _, in := range []*harness.Install{w.A, w.B} {
		plugins := in.Admin.Must(200, "GET", "/v1/plugins", nil).Object(t)["plugins"].([]any)
		if len(plugins) != len(harness.Plugins) {
			t.Fatalf("%s: %d plugins, want %d", in.Slug, len(plugins), len(harness.Plugins))
		}
		for _, p := range plugins {
			if p := p.(map[string]any); p["active"] != true || p["running"] != true {
				t.Fatalf("%s: plugin %v is not active and running", in.Slug, p)
			}
		}
		bob := in.Bob
		bob.Must(404, "GET", "/v1/records/contact/"+in.Records["alice"]["contact"], nil)
		bob.Must(200, "GET", "/v1/records/lead/"+in.Records["alice"]["lead"], nil)       // shared with him
		bob.Must(200, "GET", "/v1/records/account/"+in.Records["alice"]["account"], nil) // delegated to him
		in.Manager.Must(200, "GET", "/v1/records/contact/"+in.Records["alice"]["contact"], nil)
	}
	w.A.Bob.Must(404, "GET", "/v1/records/lead/"+w.B.Records["bob"]["lead"], nil)
}

// TestCLI sets up installs with the command line and checks what the
// helpers built on it give: clients of the people CreateInstalls made,
// with their ids, a list reply's ids, a metric, and the server's plugin
// sockets under the CLI's own directory.
func TestCLI(t *testing.T) {
	c := harness.NewCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"), "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"))
	c.CreateInstalls([]string{"acme", "globex"}, "alice", "bob")
	srv := c.Serve()
	for _, who := range []struct{ slug, email, role string }{
		{"acme", "admin@acme.test", "admin"}, {"acme", "alice@acme.test", "member"}, {"globex", "bob@globex.test", "member"},
	} {
		u := c.Login(t, srv.Base, who.slug, who.email)
		me := u.Must(200, "GET", "/v1/me", nil).Object(t)
		user, install := me["user"].(map[string]any), me["install"].(map[string]any)
		if u.ID == "" || user["id"] != u.ID || user["email"] != who.email || user["role"] != who.role || install["slug"] != who.slug {
			t.Errorf("Login(%s, %s) is %q, GET /v1/me says %v", who.slug, who.email, u.ID, me)
		}
	}

	alice, bob := c.Login(t, srv.Base, "acme", "alice@acme.test"), c.Login(t, srv.Base, "acme", "bob@acme.test")
	var leads []string
	for _, name := range []string{"one", "two"} {
		leads = append(leads, alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": name}}).ID(t))
	}
	if ids := bob.Must(200, "GET", "/v1/records/lead", nil).IDs(t); !slices.Equal(ids, []string{leads[1], leads[0]}) {
		t.Errorf("IDs of the list: %v, want the leads newest first %v", ids, leads)
	}
	other := c.Login(t, srv.Base, "globex", "admin@globex.test")
	if ids := other.Must(200, "GET", "/v1/records/lead", nil).IDs(t); len(ids) != 0 {
		t.Errorf("IDs of another install's list: %v", ids)
	}
	service := c.ServiceClient(t, srv.Base, "acme")
	check := service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
		map[string]any{"user_id": bob.ID, "action": "view", "type": "lead", "id": leads[0]}}})
	if !strings.Contains(string(check.Body), `"allowed":true`) {
		t.Errorf("the service client's check: %s", check.Body)
	}

	if up := srv.Metric(t, `crmguard_plugin_up{plugin="hello"}`); up != 1 {
		t.Errorf("crmguard_plugin_up of hello: %v, want 1", up)
	}
	if n := srv.Metric(t, "crmguard_no_such_metric"); n != 0 {
		t.Errorf("a metric that is not there: %v, want 0", n)
	}
	entries, err := os.ReadDir(c.SocketDir)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, e := range entries {
		if e.IsDir() {
			hosts = append(hosts, e.Name())
		}
	}
	if len(hosts) != 1 {
		t.Errorf("the CLI's socket directory holds %v, want the one server's directory", hosts)
	}
}

// TestMariaDB stops, kills and restarts a private server and finds what
// was committed before.
func TestMariaDB(t *testing.T) {
	m := harness.StartMariaDB(t)
	dsn := m.CreateDatabase(t, "crmguard")
	c := harness.NewCLI(t, "mysql", dsn)
	c.Must("install", "create", "acme")
	m.Kill(t)
	m.Start(t)
	if _, errOut, code := c.Run("install", "create", "acme"); code == 0 {
		t.Fatalf("install acme was lost in the crash: created again (%s)", errOut)
	}
	m.Stop(t)
	if _, _, code := c.Run("install", "create", "globex"); code == 0 {
		t.Fatal("a command succeeded with the server stopped")
	}
}

// TestRoutes reads the routes of the API and of the plugins from the code:
// Gin's, the action routes behind a suffix, and each plugin's ServeMux
// patterns.
func TestRoutes(t *testing.T) {
	api := harness.APIRoutes(t)
	for _, want := range []string{"GET /healthz", "GET /v1/records/:type", "GET /v1/records/:type:count",
		"POST /v1/records/:type/:id:changed", "TRACE /v1/plugins/:id/api/*path"} {
		if !slices.Contains(api, want) {
			t.Errorf("APIRoutes has no %s: %v", want, api)
		}
	}
	plugins := harness.PluginRoutes(t)
	if !slices.Contains(plugins["hello"], "GET /writes") || !slices.Contains(plugins["delegation"], "POST /delegations:bulk") {
		t.Errorf("PluginRoutes: %v", plugins)
	}
}
