package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestMalformedPluginPaths sends the paths that used to crash a plugin
// process shared by every install (encoded space, NUL, tab, CR, %, ?, and
// dot segments) to the real strict-ownership and delegation plugins, and
// makes a test plugin panic on purpose in a route and in a hook: each
// request is answered on its own, every plugin process keeps its pid and
// serves the other install, and the host's log shows no panic but the
// deliberate ones, with their stacks.
func TestMalformedPluginPaths(t *testing.T) {
	dir := pluginDir(t, "strict-ownership", "delegation")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "faulty"), "./host/plugins/testdata/faulty")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build faulty: %v\n%s", err, out)
	}
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+dir)
	c.must("migrate")
	for _, slug := range []string{"acme", "globex"} {
		c.must("install", "create", slug)
		c.must("user", "create", "--install", slug, "--email", "admin@"+slug+".test", "--role", "admin")
		c.must("user", "create", "--install", slug, "--email", "alice@"+slug+".test")
	}
	srv := c.serve()
	login := func(slug, email string) user {
		t.Helper()
		u := user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", slug, "--email", email))}
		u.id = u.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["id"].(string)
		return u
	}
	admin, alice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test")
	otherAdmin, otherAlice := login("globex", "admin@globex.test"), login("globex", "alice@globex.test")
	for _, a := range []user{admin, otherAdmin} {
		for _, id := range []string{"strict-ownership", "delegation"} {
			a.must(200, "POST", "/v1/plugins/"+id+"/activate", nil)
		}
	}
	admin.must(200, "POST", "/v1/plugins/faulty/activate", nil)
	lead := func(u user) string {
		t.Helper()
		return u.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Lead"}, "owner_id": u.id}).object(t)["id"].(string)
	}
	acmeLead, globexLead := lead(alice), lead(otherAlice)
	// Globex keeps being served by the same processes throughout.
	otherInstall := func() {
		t.Helper()
		otherAlice.must(200, "GET", "/v1/plugins/strict-ownership/api/records/lead/"+globexLead+"/shares", nil)
		otherAdmin.must(200, "GET", "/v1/plugins/delegation/api/delegations", nil)
		otherAlice.must(200, "GET", "/v1/records/lead/"+globexLead, nil)
	}
	otherInstall()
	before := pluginPids(t, srv)
	if len(before) != 3 {
		t.Fatalf("plugin processes: %v", before)
	}

	const strict, delegation = "/v1/plugins/strict-ownership/api", "/v1/plugins/delegation/api"
	// An id with an encoded space, % or ? reaches the plugin as an id,
	// and is answered as any unknown id is.
	unknown := alice.do("GET", strict+"/records/lead/zz/shares", nil)
	if unknown.Status != 400 || unknown.code(t) != "invalid_id" || !strings.Contains(string(unknown.Body), `id: \"zz\" is not a record id`) {
		t.Fatalf("an id no record can have: %d %s, want 400 invalid_id as the records API answers", unknown.Status, unknown.Body)
	}
	for _, id := range []string{"a%20b", "a%25b", "%25", "a%3fb", "a%3Fb%2Fc", "a%2f"} {
		r := alice.do("GET", strict+"/records/lead/"+id+"/shares", nil)
		if r.Status != unknown.Status || r.code(t) != unknown.code(t) {
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
		r := alice.do(tc.method, tc.path, map[string]any{"expires_at": "2030-01-01T00:00:00Z"})
		if r.Status != 400 || r.code(t) != "invalid_path" || r.Header.Get("Location") != "" {
			t.Errorf("%s %s: %d %s (Location %q), want 400 invalid_path", tc.method, tc.path, r.Status, r.Body, r.Header.Get("Location"))
		}
	}
	// An unknown route or method answers in the host's error form.
	if r := alice.do("GET", delegation+"/nothing", nil); r.Status != 404 || r.code(t) != "no_route" {
		t.Errorf("unknown route: %d %s", r.Status, r.Body)
	}
	if r := alice.do("PUT", delegation+"/delegations/x", nil); r.Status != 405 || r.code(t) != "method_not_allowed" {
		t.Errorf("wrong method: %d %s", r.Status, r.Body)
	}
	// An encoded ? stays in the path on its way to the plugin.
	if got := alice.must(200, "GET", "/v1/plugins/faulty/api/echo/a%3fb?q=1", nil).object(t); got["rest"] != "a?b" || got["query"] != "q=1" {
		t.Errorf("a%%3fb reached the plugin as %v", got)
	}

	// A route that panics answers 500 for that request alone...
	if r := alice.must(500, "GET", "/v1/plugins/faulty/api/panic", nil); r.code(t) != "plugin_error" || !strings.Contains(string(r.Body), "plugin faulty") {
		t.Errorf("a panicking route: %s", r.Body)
	}
	// ... and so does a hook, failing closed: acme's permissions cannot be
	// computed without it, globex does not have it active.
	admin.must(200, "PUT", "/v1/plugins/faulty/settings", map[string]any{"panic_in": []string{"policy"}})
	if r := alice.must(500, "GET", "/v1/records/lead/"+acmeLead, nil); r.code(t) != "plugin_error" {
		t.Errorf("a panicking policy hook: %s", r.Body)
	}
	otherInstall()
	admin.must(200, "PUT", "/v1/plugins/faulty/settings", map[string]any{})
	alice.must(200, "GET", "/v1/records/lead/"+acmeLead, nil)
	alice.must(200, "GET", strict+"/records/lead/"+acmeLead+"/shares", nil)
	alice.must(200, "GET", "/v1/plugins/faulty/api/echo/after", nil)

	otherInstall()
	if after := pluginPids(t, srv); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("plugin processes were %v, are %v", before, after)
	}
	if r := admin.must(200, "GET", "/readyz", nil).object(t); fmt.Sprint(r["plugins"]) != "map[delegation:running faulty:running strict-ownership:running]" {
		t.Fatalf("readyz: %v", r["plugins"])
	}
	checkPanicsInLog(t, srv.log())
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

// pluginPids returns the host's plugin processes, pid by binary name.
func pluginPids(t *testing.T, srv *server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, pid := range childrenOf(t, srv.cmd.Process.Pid) {
		if !alive(pid) {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		exe, _, _ := strings.Cut(string(cmdline), "\x00")
		out[filepath.Base(exe)] = pid
	}
	return out
}
