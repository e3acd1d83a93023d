package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestMalformedPluginPaths sends the paths that used to crash a plugin
// process shared by every install (encoded space, NUL, tab, CR, %, ?, and
// dot segments) to the real strict-ownership and delegation plugins, and
// makes a test plugin panic on purpose in a route and in a hook: each
// request is answered on its own, every plugin process keeps its pid and
// serves the other install, and the host's log shows no panic but the
// deliberate ones, with their stacks.
func TestMalformedPluginPaths(t *testing.T) {
	dir := harness.PluginDir(t, "strict-ownership", "delegation", "host/plugins/testdata/faulty")
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t), "CRMGUARD_PLUGIN_DIR="+dir)
	c.Must("migrate")
	c.CreateInstalls([]string{"acme", "globex"}, "alice")
	srv := c.Serve()
	login := func(slug, email string) harness.Client { return c.Login(t, srv.Base, slug, email) }
	admin, alice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test")
	otherAdmin, otherAlice := login("globex", "admin@globex.test"), login("globex", "alice@globex.test")
	for _, a := range []harness.Client{admin, otherAdmin} {
		for _, id := range []string{"strict-ownership", "delegation"} {
			a.Must(200, "POST", "/v1/plugins/"+id+"/activate", nil)
		}
	}
	admin.Must(200, "POST", "/v1/plugins/faulty/activate", nil)
	lead := func(u harness.Client) string {
		t.Helper()
		return u.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Lead"}, "owner_id": u.ID}).Object(t)["id"].(string)
	}
	acmeLead, globexLead := lead(alice), lead(otherAlice)
	// Globex keeps being served by the same processes throughout.
	otherInstall := func() {
		t.Helper()
		otherAlice.Must(200, "GET", "/v1/plugins/strict-ownership/api/records/lead/"+globexLead+"/shares", nil)
		otherAdmin.Must(200, "GET", "/v1/plugins/delegation/api/delegations", nil)
		otherAlice.Must(200, "GET", "/v1/records/lead/"+globexLead, nil)
	}
	otherInstall()
	before := srv.PluginPids()
	if len(before) != 3 {
		t.Fatalf("plugin processes: %v", before)
	}

	const strict, delegation = "/v1/plugins/strict-ownership/api", "/v1/plugins/delegation/api"
	// An id with an encoded space, % or ? reaches the plugin as an id,
	// and is answered as any unknown id is.
	unknown := alice.Do("GET", strict+"/records/lead/zz/shares", nil)
	if unknown.Status != 400 || unknown.ErrorCode() != "invalid_id" || !strings.Contains(string(unknown.Body), `id: \"zz\" is not a record id`) {
		t.Fatalf("an id no record can have: %d %s, want 400 invalid_id as the records API answers", unknown.Status, unknown.Body)
	}
	for _, id := range []string{"a%20b", "a%25b", "%25", "a%3fb", "a%3Fb%2Fc", "a%2f"} {
		r := alice.Do("GET", strict+"/records/lead/"+id+"/shares", nil)
		if r.Status != unknown.Status || r.ErrorCode() != unknown.ErrorCode() {
			t.Errorf("id %s: %d %s, want the answer to an unknown id: %d %s", id, r.Status, r.Body, unknown.Status, unknown.Body)
		}
	}
	// Paths no segment may hold are refused before they reach a plugin.
	for _, tc := range []struct{ method, path string }{
		{"GET", strict + "/records/lead/a%00b/shares"},
		{"GET", strict + "/records/lead/a%09b/shares"},
		{"GET", strict + "/records/lead/a%0db/shares"},
		{"GET", strict + "/records/lead/a%0a/shares"},
		{"GET", strict + "/records/lead/%ff/shares"},
		{"GET", strict + "/records/lead/" + acmeLead + "/shares/.."},
		{"PATCH", delegation + "/delegations/.."},
		{"PATCH", delegation + "/delegations/%2e%2e"},
		{"DELETE", delegation + "/delegations/."},
		{"GET", delegation + "//delegations"},
	} {
		r := alice.Do(tc.method, tc.path, map[string]any{"expires_at": "2030-01-01T00:00:00Z"})
		if r.Status != 400 || r.ErrorCode() != "invalid_path" || r.Header.Get("Location") != "" {
			t.Errorf("%s %s: %d %s (Location %q), want 400 invalid_path", tc.method, tc.path, r.Status, r.Body, r.Header.Get("Location"))
		}
	}
	// An unknown route or method answers in the host's error form.
	if r := alice.Do("GET", delegation+"/nothing", nil); r.Status != 404 || r.ErrorCode() != "no_route" {
		t.Errorf("unknown route: %d %s", r.Status, r.Body)
	}
	if r := alice.Do("PUT", delegation+"/delegations/x", nil); r.Status != 405 || r.ErrorCode() != "method_not_allowed" {
		t.Errorf("wrong method: %d %s", r.Status, r.Body)
	}
	// An encoded ? stays in the path on its way to the plugin.
	if got := alice.Must(200, "GET", "/v1/plugins/faulty/api/echo/a%3fb?q=1", nil).Object(t); got["rest"] != "a?b" || got["query"] != "q=1" {
		t.Errorf("a%%3fb reached the plugin as %v", got)
	}

	// A route that panics answers 500 for that request alone...
	if r := alice.Must(500, "GET", "/v1/plugins/faulty/api/panic", nil); r.ErrorCode() != "plugin_error" || !strings.Contains(string(r.Body), "plugin faulty") {
		t.Errorf("a panicking route: %s", r.Body)
	}
	// ... and so does a hook, failing closed: acme's permissions cannot be
	// computed without it, globex does not have it active.
	admin.Must(200, "PUT", "/v1/plugins/faulty/settings", map[string]any{"panic_in": []string{"policy"}})
	if r := alice.Must(500, "GET", "/v1/records/lead/"+acmeLead, nil); r.ErrorCode() != "plugin_error" {
		t.Errorf("a panicking policy hook: %s", r.Body)
	}
	otherInstall()
	admin.Must(200, "PUT", "/v1/plugins/faulty/settings", map[string]any{})
	alice.Must(200, "GET", "/v1/records/lead/"+acmeLead, nil)
	alice.Must(200, "GET", strict+"/records/lead/"+acmeLead+"/shares", nil)
	alice.Must(200, "GET", "/v1/plugins/faulty/api/echo/after", nil)

	otherInstall()
	if after := srv.PluginPids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("plugin processes were %v, are %v", before, after)
	}
	if r := admin.Must(200, "GET", "/readyz", nil).Object(t); fmt.Sprint(r["plugins"]) != "map[delegation:running faulty:running strict-ownership:running]" {
		t.Fatalf("readyz: %v", r["plugins"])
	}
	checkPanicsInLog(t, srv.Log())
}

// checkPanicsInLog fails t unless the only panics in a host's log are
// faulty's deliberate ones, logged at error level with their stacks.
func checkPanicsInLog(t *testing.T, log string) {
	t.Helper()
	var route, hook bool
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		if !strings.Contains(strings.ToLower(line), "panic") {
			continue
		}
		var e struct {
			Level, Msg, Plugin, Panic, Stack, Path string
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("a log line that is not JSON mentions a panic: %s", line)
			continue
		}
		switch {
		case e.Msg == "request" && strings.HasPrefix(e.Path, "/v1/plugins/faulty/api/panic"):
		case e.Msg == "request" && e.Path == "/v1/plugins/faulty/settings":
		case e.Plugin == "faulty" && e.Level == "ERROR" && strings.Contains(e.Stack, "main.faulty.Routes"):
			route = route || e.Panic == "faulty: told to panic in a route"
		case e.Plugin == "faulty" && e.Level == "ERROR" && strings.Contains(e.Stack, "main.faulty.Policy"):
			hook = hook || e.Panic == "faulty: told to panic in policy"
		default:
			t.Errorf("a panic in the host's log: %s", line)
		}
	}
	if !route || !hook {
		t.Errorf("the deliberate panics are not in the host's log with their stacks (route %v, hook %v)", route, hook)
	}
}
