package harness_test

import (
	"os"
	"slices"
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
