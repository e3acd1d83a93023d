package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestPluginActivation runs the host with plugins/hello in its plugin
// directory, activates it for one install only, and shows its effect there
// and nowhere else, until it is deactivated.
func TestPluginActivation(t *testing.T) {
	dir := helloDir(t)
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+dir)
	c.must("migrate")
	for _, slug := range []string{"acme", "globex"} {
		c.must("install", "create", slug)
		c.must("user", "create", "--install", slug, "--email", "admin@"+slug+".test", "--role", "admin")
		c.must("user", "create", "--install", slug, "--email", "alice@"+slug+".test")
	}
	// The command line lists and switches plugins per install too.
	if out := c.must("plugins", "list", "--install", "globex"); !strings.Contains(out, "hello") || strings.Contains(out, "active") {
		t.Fatalf("plugins list: %s", out)
	}
	c.must("plugins", "activate", "hello", "--install", "globex")
	if out := c.must("plugins", "list", "--install", "globex"); !strings.Contains(out, "active in globex") {
		t.Fatalf("plugins list after activation: %s", out)
	}
	c.must("plugins", "deactivate", "hello", "--install", "globex")
	if _, errOut, code := c.run("plugins", "activate", "nope", "--install", "globex"); code != 1 || !strings.Contains(errOut, `no plugin "nope"`) {
		t.Fatalf("activating an unknown plugin: exit %d: %s", code, errOut)
	}
	srv := c.serve()
	login := func(slug, email string) user {
		t.Helper()
		u := user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", slug, "--email", email))}
		u.id = u.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["id"].(string)
		return u
	}
	admin, alice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test")
	otherAlice := login("globex", "alice@globex.test")

	listed := admin.must(200, "GET", "/v1/plugins", nil).object(t)["plugins"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["id"] != "hello" || listed[0].(map[string]any)["active"] != false {
		t.Fatalf("plugins: %v", listed)
	}
	account := func(u user) string {
		t.Helper()
		return "/v1/records/account/" + u.must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "ACME Corp"}}).object(t)["id"].(string)
	}
	mine, theirs := account(alice), account(otherAlice)
	edit := map[string]any{"data": map[string]any{"stage": "customer"}}
	alice.must(200, "PATCH", mine, edit)

	// Settings are checked against the plugin's schema, then by the
	// plugin; only admins change them.
	if r := admin.must(400, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"lemon"}}); r.code(t) != "invalid_settings" ||
		!strings.Contains(string(r.Body), `settings of hello: read_only_types[0]: must be \"lead\", \"contact\"`) {
		t.Fatalf("bad settings: %s", r.Body)
	}
	alice.must(403, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	admin.must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	alice.must(200, "PATCH", mine, edit) // settings alone change nothing until the plugin is active

	alice.must(403, "POST", "/v1/plugins/hello/activate", nil)
	if r := admin.must(200, "POST", "/v1/plugins/hello/activate", nil).object(t); r["active"] != true {
		t.Fatalf("activate: %v", r)
	}
	if r := alice.must(403, "PATCH", mine, edit); r.code(t) != "action_not_allowed" {
		t.Fatalf("edit of a read-only account: %s", r.Body)
	}
	alice.must(200, "GET", mine, nil)
	// The plugin's routes answer in this install only, knowing the caller.
	rules := alice.must(200, "GET", "/v1/plugins/hello/api/rules", nil).object(t)
	if rules["install"] != "acme" || rules["user_id"] != alice.id || fmt.Sprint(rules["read_only_types"]) != "[account]" {
		t.Fatalf("hello's rules route: %v", rules)
	}
	if r := otherAlice.must(404, "GET", "/v1/plugins/hello/api/rules", nil); r.code(t) != "unknown_plugin" {
		t.Fatalf("hello's route in an install that did not activate it: %s", r.Body)
	}
	alice.must(404, "GET", "/v1/plugins/hello/api/nothing-here", nil)
	// The plugin keeps data per install in the host's key-value store.
	for want := 1; want <= 3; want++ {
		if got := alice.must(200, "POST", "/v1/plugins/hello/api/visits", nil).object(t)["visits"]; got != float64(want) {
			t.Fatalf("visit %d counted as %v", want, got)
		}
	}
	if got := admin.must(200, "GET", "/v1/plugins/hello/api/visits", nil).object(t)["visits"]; got != float64(3) {
		t.Fatalf("visits: %v", got)
	}
	otherAdmin := login("globex", "admin@globex.test")
	otherAdmin.must(200, "POST", "/v1/plugins/hello/activate", nil)
	if got := otherAlice.must(200, "GET", "/v1/plugins/hello/api/visits", nil).object(t)["visits"]; got != float64(0) {
		t.Fatalf("globex sees acme's visits: %v", got)
	}
	otherAdmin.must(200, "POST", "/v1/plugins/hello/deactivate", nil)
	// Warm requests never cross to the plugin: its hook ran when alice's
	// permissions were computed, and not again.
	calls := policyCalls(t, srv.base)
	for range 20 {
		alice.must(200, "GET", mine, nil)
		alice.must(200, "GET", "/v1/records/account?can=edit", nil)
	}
	if n := policyCalls(t, srv.base); n != calls || calls == 0 {
		t.Fatalf("policy hook calls: %v before 40 warm requests, %v after", calls, n)
	}
	otherAlice.must(200, "PATCH", theirs, edit) // globex did not activate it
	admin.must(200, "PATCH", mine, edit)        // admins keep every right

	admin.must(200, "POST", "/v1/plugins/hello/deactivate", nil)
	alice.must(200, "PATCH", mine, edit)
	alice.must(404, "GET", "/v1/plugins/hello/api/rules", nil)
	if r := admin.must(200, "GET", "/v1/plugins/hello/settings", nil); !strings.Contains(string(r.Body), `"account"`) {
		t.Fatalf("settings were not kept across deactivation: %s", r.Body)
	}
	if r := admin.must(404, "POST", "/v1/plugins/nope/activate", nil); r.code(t) != "unknown_plugin" {
		t.Fatalf("unknown plugin: %s", r.Body)
	}

	// Fail closed: the plugin is active but the host restarts without it.
	admin.must(200, "POST", "/v1/plugins/hello/activate", nil)
	srv.stop(t)
	if err := os.Rename(filepath.Join(dir, "hello"), filepath.Join(t.TempDir(), "hello")); err != nil {
		t.Fatal(err)
	}
	srv = c.serve()
	alice.base, admin.base, otherAlice.base = srv.base, srv.base, srv.base
	if r := alice.must(503, "GET", mine, nil); r.code(t) != "plugin_unavailable" {
		t.Fatalf("read with an active plugin missing: %s", r.Body)
	}
	alice.must(503, "GET", "/v1/records/account", nil)
	otherAlice.must(200, "PATCH", theirs, edit) // another install does not depend on it
	listed = admin.must(200, "GET", "/v1/plugins", nil).object(t)["plugins"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["running"] != false || listed[0].(map[string]any)["active"] != true {
		t.Fatalf("plugins with hello missing: %v", listed)
	}
	admin.must(200, "POST", "/v1/plugins/hello/deactivate", nil) // a missing plugin can still be turned off
	alice.must(200, "PATCH", mine, edit)
}

// policyCalls reads from the host's metrics how many times plugins' policy
// hooks were called.
func policyCalls(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var n float64
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, `crmguard_plugin_calls_total{hook="policy",plugin="hello",result="ok"} `); ok {
			if n, err = strconv.ParseFloat(rest, 64); err != nil {
				t.Fatal(err)
			}
		}
	}
	return n
}

// TestPluginsDieWithHost kills the host with SIGKILL and finds no plugin
// process left a few seconds later.
func TestPluginsDieWithHost(t *testing.T) {
	dir := helloDir(t)
	c := newCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+dir)
	srv := c.serve()
	children := childrenOf(t, srv.cmd.Process.Pid)
	if len(children) != 1 {
		t.Fatalf("the host runs %d child processes, want the one plugin", len(children))
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(children[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d outlived its host by 5 s", children[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// procStat returns a process's parent and state from /proc.
func procStat(pid int) (ppid int, state string, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid ...: comm may hold spaces, so start after ")".
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(fields) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[0], err == nil
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

// TestPluginKilledUnderLoad kills an active plugin that hides a record type
// while members keep asking for such a record: no answer ever shows it,
// requests whose permissions must be computed get 503 while the plugin is
// down, and the host restarts the plugin and serves normally again.
func TestPluginKilledUnderLoad(t *testing.T) {
	dir := helloDir(t)
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+dir)
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "admin@acme.test", "--role", "admin")
	emails := []string{"a@acme.test", "b@acme.test", "c@acme.test", "d@acme.test"}
	for _, e := range emails {
		c.must("user", "create", "--install", "acme", "--email", e)
	}
	srv := c.serve()
	login := func(email string) user {
		return user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", "acme", "--email", email))}
	}
	admin := login("admin@acme.test")
	var members []user
	for _, e := range emails {
		members = append(members, login(e))
	}
	deal := admin.must(201, "POST", "/v1/records/opportunity", map[string]any{"data": map[string]any{"name": "Secret deal"}}).object(t)["id"].(string)
	admin.must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"hidden_types": []string{"opportunity"}})
	admin.must(200, "POST", "/v1/plugins/hello/activate", nil)

	// Members ask for the hidden record, and for the list of its type,
	// until told to stop; every answer is checked.
	var (
		mu          sync.Mutex
		unavailable int
		leaks       []string
		stop        = make(chan struct{})
		wg          sync.WaitGroup
	)
	for _, m := range members {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, path := range []string{"/v1/records/opportunity/" + deal, "/v1/records/opportunity"} {
					r := m.do("GET", path, nil)
					mu.Lock()
					switch {
					case r.Status == 503:
						unavailable++
					case r.Status == 404 && strings.Contains(path, deal):
					case r.Status == 200 && !strings.Contains(path, deal) && !strings.Contains(string(r.Body), deal):
					default:
						leaks = append(leaks, fmt.Sprintf("%s: %d %s", path, r.Status, r.Body))
					}
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	plugin := childrenOf(t, srv.cmd.Process.Pid)
	if len(plugin) != 1 {
		t.Fatalf("the host runs %d child processes, want the one plugin", len(plugin))
	}
	if err := syscall.Kill(plugin[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Permissions cached before the kill stay right; voiding them (any
	// settings change does) makes every member's next request compute
	// them, which needs the plugin.
	admin.must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
	running := func() bool {
		listed := admin.must(200, "GET", "/v1/plugins", nil).object(t)["plugins"].([]any)
		return listed[0].(map[string]any)["running"] == true
	}
	deadline := time.Now().Add(20 * time.Second)
	for running() { // the host notices the kill
		if time.Now().After(deadline) {
			t.Fatal("the host did not notice the plugin's death within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for !running() { // and restarts it
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not restarted within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := admin.must(200, "GET", "/readyz", nil).object(t); fmt.Sprint(r["plugins"]) != "map[hello:running]" {
		t.Fatalf("readyz: %v", r)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	during := unavailable
	mu.Unlock()
	time.Sleep(700 * time.Millisecond) // service has resumed: no more 503
	close(stop)
	wg.Wait()
	if len(leaks) > 0 {
		t.Fatalf("%d answers showed what the plugin hides, e.g. %s", len(leaks), leaks[0])
	}
	if during == 0 {
		t.Fatal("no request got 503 while the plugin was down: the test did not reach it")
	}
	if unavailable != during {
		t.Fatalf("%d requests got 503 after the plugin was back", unavailable-during)
	}
}

// TestOperatorRestartsFailedPlugin kills an active plugin right after
// each start until the host gives up on it (three failures in a row, no
// process of it having run for plugins.stable_after), when the install's
// requests fail closed and stay so, and /readyz says since when; the
// operator's restart, with the operator token and no other, brings it
// back at once, serving again.
func TestOperatorRestartsFailedPlugin(t *testing.T) {
	const opToken = "op-e2e-0123456789abcdefghijklmnopqrstuvwxyz"
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+helloDir(t), "CRMGUARD_OPERATOR_TOKEN="+opToken, "CRMGUARD_PLUGIN_STABLE_AFTER=10m")
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "admin@acme.test", "--role", "admin")
	c.must("user", "create", "--install", "acme", "--email", "alice@acme.test")
	srv := c.serve()
	login := func(email string) user {
		return user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", "acme", "--email", email))}
	}
	admin, alice := login("admin@acme.test"), login("alice@acme.test")
	operator := user{t: t, base: srv.base, token: opToken}
	const restart = "/v1/admin/plugins/hello/restart"

	account := "/v1/records/account/" + alice.must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "ACME Corp"}}).object(t)["id"].(string)
	admin.must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	admin.must(200, "POST", "/v1/plugins/hello/activate", nil)
	edit := map[string]any{"data": map[string]any{"stage": "customer"}}
	alice.must(403, "PATCH", account, edit)

	// Users, admins too, are not the operator.
	if r := admin.must(401, "POST", restart, nil); r.code(t) != "invalid_token" {
		t.Fatalf("restart with an admin's token: %s", r.Body)
	}
	if r := operator.must(404, "POST", "/v1/admin/plugins/nope/restart", nil); r.code(t) != "unknown_plugin" {
		t.Fatalf("restart of an unknown plugin: %s", r.Body)
	}
	// Restarting a running plugin leaves its process alone.
	pid := pluginPid(t, srv)
	if r := operator.must(200, "POST", restart, nil); string(r.Body) != `{"id":"hello","state":"running"}` {
		t.Fatalf("restart of a running plugin: %s", r.Body)
	}
	if now := pluginPid(t, srv); now != pid {
		t.Fatalf("restart of a running plugin replaced process %d with %d", pid, now)
	}

	state := func() string {
		return fmt.Sprint(admin.must(200, "GET", "/readyz", nil).object(t)["plugins"].(map[string]any)["hello"])
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for state() != want {
			if time.Now().After(deadline) {
				t.Fatalf("hello is %s after 20 s, want %s", state(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := 1; i <= 3; i++ {
		if err := syscall.Kill(pluginPid(t, srv), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if i < 3 { // the host restarts it by itself, after 1 s, then 2 s
			waitFor("restarting")
			waitFor("running")
		}
	}
	waitFor("failed")
	health := func() map[string]any {
		return readyz(t, srv.base)["plugin_health"].(map[string]any)["hello"].(map[string]any)
	}
	failedAt := health()
	if since, err := time.Parse(time.RFC3339, fmt.Sprint(failedAt["since"])); err != nil || time.Since(since) > time.Minute ||
		failedAt["failures"] != float64(3) || failedAt["restarts"] != float64(2) || failedAt["next_start"] != nil {
		t.Fatalf("readyz of the failed plugin: %v", failedAt)
	}
	if up, failed := metric(t, srv.base, `crmguard_plugin_up{plugin="hello"}`), metric(t, srv.base, `crmguard_plugin_state{plugin="hello",state="failed"}`); up != 0 || failed != 1 {
		t.Fatalf("metrics of the failed plugin: up %v, failed %v", up, failed)
	}
	// Alice's permissions, voided by a settings change, cannot be computed
	// without the plugin.
	admin.must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
	if r := alice.must(503, "GET", account, nil); r.code(t) != "plugin_unavailable" {
		t.Fatalf("read while the plugin is failed: %s", r.Body)
	}

	if r := admin.must(401, "POST", restart, nil); r.code(t) != "invalid_token" {
		t.Fatalf("restart with an admin's token: %s", r.Body)
	}
	resp, err := http.Post(srv.base+restart, "application/json", nil) // no Authorization at all
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r := (reply{Status: resp.StatusCode, Body: raw}); r.Status != 401 || r.code(t) != "missing_token" {
		t.Fatalf("restart without a token: %d %s", r.Status, r.Body)
	}
	if state() != "failed" {
		t.Fatal("a refused restart restarted the plugin")
	}
	if r := operator.must(200, "POST", restart, nil); string(r.Body) != `{"id":"hello","state":"running"}` {
		t.Fatalf("the operator's restart: %s", r.Body)
	}
	if h := health(); h["state"] != "running" || h["failures"] != float64(0) || h["restarts"] != float64(3) {
		t.Fatalf("readyz after the operator's restart: %v", h)
	}
	if up, restarts := metric(t, srv.base, `crmguard_plugin_up{plugin="hello"}`), metric(t, srv.base, `crmguard_plugin_restarts_total{plugin="hello"}`); up != 1 || restarts != 3 {
		t.Fatalf("metrics after the operator's restart: up %v, restarts %v", up, restarts)
	}
	alice.must(200, "GET", account, nil)
	if r := alice.must(403, "PATCH", account, edit); r.code(t) != "action_not_allowed" {
		t.Fatalf("edit of a read-only account after the restart: %s", r.Body)
	}
	if rules := alice.must(200, "GET", "/v1/plugins/hello/api/rules", nil).object(t); rules["install"] != "acme" {
		t.Fatalf("hello's route after the restart: %v", rules)
	}
	if !strings.Contains(srv.log(), `"msg":"plugin restart by the operator","plugin":"hello","was":"failed","state":"running"`) {
		t.Error("the operator's restart is not in the host's log")
	}
}

// pluginPid returns the process id of the host's one live plugin process.
func pluginPid(t *testing.T, srv *server) int {
	t.Helper()
	var live []int
	for _, pid := range childrenOf(t, srv.cmd.Process.Pid) {
		if alive(pid) {
			live = append(live, pid)
		}
	}
	if len(live) != 1 {
		t.Fatalf("the host runs %d live child processes, want the one plugin", len(live))
	}
	return live[0]
}

// helloDir returns a plugin directory holding a fresh build of plugins/hello.
func helloDir(t *testing.T) string {
	t.Helper()
	return pluginDir(t, "hello")
}

// pluginDir builds plugins (by their directory under plugins/) into a
// plugin directory of their own.
func pluginDir(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, id), "./plugins/"+id)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build plugins/%s: %v\n%s", id, err, out)
		}
	}
	return dir
}

// TestWriteHooks runs hello's write hooks in the real host: in the install
// that activated it, a lead without an e-mail is refused with hello's code
// and a new lead goes to its creator; each committed write reaches hello's
// after-write hook through the outbox, which counts it in its key-value
// store; the other install is untouched.
func TestWriteHooks(t *testing.T) {
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+helloDir(t))
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
	admin, alice, otherAlice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test"), login("globex", "alice@globex.test")
	admin.must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"required_fields": map[string]any{"lead": []string{"email"}}, "assign_to_creator": true})
	admin.must(200, "POST", "/v1/plugins/hello/activate", nil)

	noMail := map[string]any{"data": map[string]any{"name": "Wile E."}}
	if r := alice.must(403, "POST", "/v1/records/lead", noMail); r.code(t) != "missing_field" ||
		!strings.Contains(string(r.Body), "lead: email is required in this install") {
		t.Fatalf("a lead without e-mail: %s", r.Body)
	}
	if n := alice.must(200, "GET", "/v1/records/lead:count", nil).object(t)["count"]; n != float64(0) {
		t.Fatalf("%v leads after a refused create", n)
	}
	lead := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner", "email": "rr@example.com"}}).object(t)
	if lead["owner_id"] != alice.id {
		t.Fatalf("a new lead's owner: %v", lead["owner_id"])
	}
	path := "/v1/records/lead/" + lead["id"].(string)
	alice.must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "qualified"}})
	alice.must(403, "PATCH", path, map[string]any{"data": map[string]any{"email": nil}})
	if r := otherAlice.must(201, "POST", "/v1/records/lead", noMail).object(t); r["owner_id"] != nil {
		t.Fatalf("globex's lead was changed by a plugin it did not activate: %v", r)
	}

	// The outbox delivers on its own, soon after the commit.
	deadline := time.Now().Add(10 * time.Second)
	for {
		writes := alice.must(200, "GET", "/v1/plugins/hello/api/writes", nil).object(t)["writes"].(map[string]any)
		if writes["create"] == float64(1) && writes["update"] == float64(1) && len(writes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello's write counts: %v", writes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
