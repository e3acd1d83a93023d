package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestPluginActivation runs the host with plugins/hello in its plugin
// directory, activates it for one install only, and shows its effect there
// and nowhere else, until it is deactivated.
func TestPluginActivation(t *testing.T) {
	dir := harness.PluginDir(t, "hello")
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t), "CRMGUARD_PLUGIN_DIR="+dir)
	c.Must("migrate")
	c.CreateInstalls([]string{"acme", "globex"}, "alice")
	// The command line lists and switches plugins per install too.
	if out := c.Must("plugins", "list", "--install", "globex"); !strings.Contains(out, "hello") || strings.Contains(out, "active") {
		t.Fatalf("plugins list: %s", out)
	}
	c.Must("plugins", "activate", "hello", "--install", "globex")
	if out := c.Must("plugins", "list", "--install", "globex"); !strings.Contains(out, "active in globex") {
		t.Fatalf("plugins list after activation: %s", out)
	}
	c.Must("plugins", "deactivate", "hello", "--install", "globex")
	if _, errOut, code := c.Run("plugins", "activate", "nope", "--install", "globex"); code != 1 || !strings.Contains(errOut, `no plugin "nope"`) {
		t.Fatalf("activating an unknown plugin: exit %d: %s", code, errOut)
	}
	srv := c.Serve()
	login := func(slug, email string) harness.Client { return c.Login(t, srv.Base, slug, email) }
	admin, alice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test")
	otherAlice := login("globex", "alice@globex.test")

	listed := admin.Must(200, "GET", "/v1/plugins", nil).Object(t)["plugins"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["id"] != "hello" || listed[0].(map[string]any)["active"] != false {
		t.Fatalf("plugins: %v", listed)
	}
	account := func(u harness.Client) string {
		t.Helper()
		return "/v1/records/account/" + u.Must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "ACME Corp"}}).Object(t)["id"].(string)
	}
	mine, theirs := account(alice), account(otherAlice)
	edit := map[string]any{"data": map[string]any{"stage": "customer"}}
	alice.Must(200, "PATCH", mine, edit)

	// Settings are checked against the plugin's schema, then by the
	// plugin; only admins change them.
	if r := admin.Must(400, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"lemon"}}); r.ErrorCode() != "invalid_settings" ||
		!strings.Contains(string(r.Body), `settings of hello: read_only_types[0]: must be \"lead\", \"contact\"`) {
		t.Fatalf("bad settings: %s", r.Body)
	}
	alice.Must(403, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	admin.Must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	alice.Must(200, "PATCH", mine, edit) // settings alone change nothing until the plugin is active

	alice.Must(403, "POST", "/v1/plugins/hello/activate", nil)
	if r := admin.Must(200, "POST", "/v1/plugins/hello/activate", nil).Object(t); r["active"] != true {
		t.Fatalf("activate: %v", r)
	}
	if r := alice.Must(403, "PATCH", mine, edit); r.ErrorCode() != "action_not_allowed" {
		t.Fatalf("edit of a read-only account: %s", r.Body)
	}
	alice.Must(200, "GET", mine, nil)
	// The plugin's routes answer in this install only, knowing the caller.
	rules := alice.Must(200, "GET", "/v1/plugins/hello/api/rules", nil).Object(t)
	if rules["install"] != "acme" || rules["user_id"] != alice.ID || fmt.Sprint(rules["read_only_types"]) != "[account]" {
		t.Fatalf("hello's rules route: %v", rules)
	}
	if r := otherAlice.Must(404, "GET", "/v1/plugins/hello/api/rules", nil); r.ErrorCode() != "unknown_plugin" {
		t.Fatalf("hello's route in an install that did not activate it: %s", r.Body)
	}
	alice.Must(404, "GET", "/v1/plugins/hello/api/nothing-here", nil)
	// The plugin keeps data per install in the host's key-value store.
	for want := 1; want <= 3; want++ {
		if got := alice.Must(200, "POST", "/v1/plugins/hello/api/visits", nil).Object(t)["visits"]; got != float64(want) {
			t.Fatalf("visit %d counted as %v", want, got)
		}
	}
	if got := admin.Must(200, "GET", "/v1/plugins/hello/api/visits", nil).Object(t)["visits"]; got != float64(3) {
		t.Fatalf("visits: %v", got)
	}
	otherAdmin := login("globex", "admin@globex.test")
	otherAdmin.Must(200, "POST", "/v1/plugins/hello/activate", nil)
	if got := otherAlice.Must(200, "GET", "/v1/plugins/hello/api/visits", nil).Object(t)["visits"]; got != float64(0) {
		t.Fatalf("globex sees acme's visits: %v", got)
	}
	otherAdmin.Must(200, "POST", "/v1/plugins/hello/deactivate", nil)
	// Warm requests never cross to the plugin: its hook ran when alice's
	// permissions were computed, and not again.
	const policyCalls = `crmguard_plugin_calls_total{hook="policy",plugin="hello",result="ok"}`
	calls := srv.Metric(t, policyCalls)
	for range 20 {
		alice.Must(200, "GET", mine, nil)
		alice.Must(200, "GET", "/v1/records/account?can=edit", nil)
	}
	if n := srv.Metric(t, policyCalls); n != calls || calls == 0 {
		t.Fatalf("policy hook calls: %v before 40 warm requests, %v after", calls, n)
	}
	otherAlice.Must(200, "PATCH", theirs, edit) // globex did not activate it
	admin.Must(200, "PATCH", mine, edit)        // admins keep every right

	admin.Must(200, "POST", "/v1/plugins/hello/deactivate", nil)
	alice.Must(200, "PATCH", mine, edit)
	alice.Must(404, "GET", "/v1/plugins/hello/api/rules", nil)
	if r := admin.Must(200, "GET", "/v1/plugins/hello/settings", nil); !strings.Contains(string(r.Body), `"account"`) {
		t.Fatalf("settings were not kept across deactivation: %s", r.Body)
	}
	if r := admin.Must(404, "POST", "/v1/plugins/nope/activate", nil); r.ErrorCode() != "unknown_plugin" {
		t.Fatalf("unknown plugin: %s", r.Body)
	}

	// Fail closed: the plugin is active but the host restarts without it.
	admin.Must(200, "POST", "/v1/plugins/hello/activate", nil)
	srv.Stop(t)
	if err := os.Rename(filepath.Join(dir, "hello"), filepath.Join(t.TempDir(), "hello")); err != nil {
		t.Fatal(err)
	}
	srv = c.Serve()
	alice.Base, admin.Base, otherAlice.Base = srv.Base, srv.Base, srv.Base
	if r := alice.Must(503, "GET", mine, nil); r.ErrorCode() != "plugin_unavailable" {
		t.Fatalf("read with an active plugin missing: %s", r.Body)
	}
	alice.Must(503, "GET", "/v1/records/account", nil)
	otherAlice.Must(200, "PATCH", theirs, edit) // another install does not depend on it
	listed = admin.Must(200, "GET", "/v1/plugins", nil).Object(t)["plugins"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["running"] != false || listed[0].(map[string]any)["active"] != true {
		t.Fatalf("plugins with hello missing: %v", listed)
	}
	admin.Must(200, "POST", "/v1/plugins/hello/deactivate", nil) // a missing plugin can still be turned off
	alice.Must(200, "PATCH", mine, edit)
}

// TestPluginsDieWithHost kills the host with SIGKILL and finds no plugin
// process left a few seconds later.
func TestPluginsDieWithHost(t *testing.T) {
	c := harness.NewCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"), "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"))
	srv := c.Serve()
	children := srv.Children()
	if len(children) != 1 {
		t.Fatalf("the host runs %d child processes, want the one plugin", len(children))
	}
	srv.Kill()
	harness.WaitFor(t, fmt.Sprintf("plugin process %d to die with its host", children[0]), 5*time.Second,
		func() bool { return !harness.Alive(children[0]) })
}

// TestPluginKilledUnderLoad kills an active plugin that hides a record type
// while members keep asking for such a record: no answer ever shows it,
// requests whose permissions must be computed get 503 while the plugin is
// down, and the host restarts the plugin and serves normally again.
func TestPluginKilledUnderLoad(t *testing.T) {
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t), "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"))
	names := []string{"a", "b", "c", "d"}
	c.CreateInstalls([]string{"acme"}, names...)
	srv := c.Serve()
	admin := c.Login(t, srv.Base, "acme", "admin@acme.test")
	var members []harness.Client
	for _, name := range names {
		members = append(members, c.Login(t, srv.Base, "acme", name+"@acme.test"))
	}
	deal := admin.Must(201, "POST", "/v1/records/opportunity", map[string]any{"data": map[string]any{"name": "Secret deal"}}).Object(t)["id"].(string)
	admin.Must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"hidden_types": []string{"opportunity"}})
	admin.Must(200, "POST", "/v1/plugins/hello/activate", nil)

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
					r := m.Do("GET", path, nil)
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
	plugin := srv.Children()
	if len(plugin) != 1 {
		t.Fatalf("the host runs %d child processes, want the one plugin", len(plugin))
	}
	if err := syscall.Kill(plugin[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Permissions cached before the kill stay right; voiding them (any
	// settings change does) makes every member's next request compute
	// them, which needs the plugin.
	admin.Must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
	running := func() bool {
		listed := admin.Must(200, "GET", "/v1/plugins", nil).Object(t)["plugins"].([]any)
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
	if r := admin.Must(200, "GET", "/readyz", nil).Object(t); fmt.Sprint(r["plugins"]) != "map[hello:running]" {
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
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t),
		"CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"), "CRMGUARD_OPERATOR_TOKEN="+opToken, "CRMGUARD_PLUGIN_STABLE_AFTER=10m")
	c.CreateInstalls([]string{"acme"}, "alice")
	srv := c.Serve()
	admin, alice := c.Login(t, srv.Base, "acme", "admin@acme.test"), c.Login(t, srv.Base, "acme", "alice@acme.test")
	operator := harness.Client{T: t, Base: srv.Base, Token: opToken}
	const restart = "/v1/admin/plugins/hello/restart"

	account := "/v1/records/account/" + alice.Must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "ACME Corp"}}).Object(t)["id"].(string)
	admin.Must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"read_only_types": []string{"account"}})
	admin.Must(200, "POST", "/v1/plugins/hello/activate", nil)
	edit := map[string]any{"data": map[string]any{"stage": "customer"}}
	alice.Must(403, "PATCH", account, edit)

	// Users, admins too, are not the operator.
	if r := admin.Must(401, "POST", restart, nil); r.ErrorCode() != "invalid_token" {
		t.Fatalf("restart with an admin's token: %s", r.Body)
	}
	if r := operator.Must(404, "POST", "/v1/admin/plugins/nope/restart", nil); r.ErrorCode() != "unknown_plugin" {
		t.Fatalf("restart of an unknown plugin: %s", r.Body)
	}
	// Restarting a running plugin leaves its process alone.
	pid := pluginPid(t, srv)
	if r := operator.Must(200, "POST", restart, nil); string(r.Body) != `{"id":"hello","state":"running"}` {
		t.Fatalf("restart of a running plugin: %s", r.Body)
	}
	if now := pluginPid(t, srv); now != pid {
		t.Fatalf("restart of a running plugin replaced process %d with %d", pid, now)
	}

	state := func() string {
		return fmt.Sprint(admin.Must(200, "GET", "/readyz", nil).Object(t)["plugins"].(map[string]any)["hello"])
	}
	waitFor := func(want string) {
		t.Helper()
		var now string
		if !harness.Within(20*time.Second, func() bool { now = state(); return now == want }) {
			t.Fatalf("hello is %s after 20 s, want %s", now, want)
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
		readyz := harness.Client{T: t, Base: srv.Base}.Do("GET", "/readyz", nil).Object(t)
		return readyz["plugin_health"].(map[string]any)["hello"].(map[string]any)
	}
	failedAt := health()
	if since, err := time.Parse(time.RFC3339, fmt.Sprint(failedAt["since"])); err != nil || time.Since(since) > time.Minute ||
		failedAt["failures"] != float64(3) || failedAt["restarts"] != float64(2) || failedAt["next_start"] != nil {
		t.Fatalf("readyz of the failed plugin: %v", failedAt)
	}
	if up, failed := srv.Metric(t, `crmguard_plugin_up{plugin="hello"}`), srv.Metric(t, `crmguard_plugin_state{plugin="hello",state="failed"}`); up != 0 || failed != 1 {
		t.Fatalf("metrics of the failed plugin: up %v, failed %v", up, failed)
	}
	// Alice's permissions, voided by a settings change, cannot be computed
	// without the plugin.
	admin.Must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
	if r := alice.Must(503, "GET", account, nil); r.ErrorCode() != "plugin_unavailable" {
		t.Fatalf("read while the plugin is failed: %s", r.Body)
	}

	if r := admin.Must(401, "POST", restart, nil); r.ErrorCode() != "invalid_token" {
		t.Fatalf("restart with an admin's token: %s", r.Body)
	}
	nobody := harness.Client{T: t, Base: srv.Base} // no Authorization at all
	if r := nobody.Do("POST", restart, nil, "Content-Type", "application/json"); r.Status != 401 || r.ErrorCode() != "missing_token" {
		t.Fatalf("restart without a token: %d %s", r.Status, r.Body)
	}
	if state() != "failed" {
		t.Fatal("a refused restart restarted the plugin")
	}
	if r := operator.Must(200, "POST", restart, nil); string(r.Body) != `{"id":"hello","state":"running"}` {
		t.Fatalf("the operator's restart: %s", r.Body)
	}
	if h := health(); h["state"] != "running" || h["failures"] != float64(0) || h["restarts"] != float64(3) {
		t.Fatalf("readyz after the operator's restart: %v", h)
	}
	if up, restarts := srv.Metric(t, `crmguard_plugin_up{plugin="hello"}`), srv.Metric(t, `crmguard_plugin_restarts_total{plugin="hello"}`); up != 1 || restarts != 3 {
		t.Fatalf("metrics after the operator's restart: up %v, restarts %v", up, restarts)
	}
	alice.Must(200, "GET", account, nil)
	if r := alice.Must(403, "PATCH", account, edit); r.ErrorCode() != "action_not_allowed" {
		t.Fatalf("edit of a read-only account after the restart: %s", r.Body)
	}
	if rules := alice.Must(200, "GET", "/v1/plugins/hello/api/rules", nil).Object(t); rules["install"] != "acme" {
		t.Fatalf("hello's route after the restart: %v", rules)
	}
	if !strings.Contains(srv.Log(), `"msg":"plugin restart by the operator","plugin":"hello","was":"failed","state":"running"`) {
		t.Error("the operator's restart is not in the host's log")
	}
}

// pluginPid returns the process id of the host's one live plugin process.
func pluginPid(t *testing.T, srv *harness.Server) int {
	t.Helper()
	live := srv.Children()
	if len(live) != 1 {
		t.Fatalf("the host runs %d live child processes, want the one plugin", len(live))
	}
	return live[0]
}

// TestWriteHooks runs hello's write hooks in the real host: in the install
// that activated it, a lead without an e-mail is refused with hello's code
// and a new lead goes to its creator; each committed write reaches hello's
// after-write hook through the outbox, which counts it in its key-value
// store; the other install is untouched.
func TestWriteHooks(t *testing.T) {
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t), "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"))
	c.Must("migrate")
	c.CreateInstalls([]string{"acme", "globex"}, "alice")
	srv := c.Serve()
	login := func(slug, email string) harness.Client { return c.Login(t, srv.Base, slug, email) }
	admin, alice, otherAlice := login("acme", "admin@acme.test"), login("acme", "alice@acme.test"), login("globex", "alice@globex.test")
	admin.Must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"required_fields": map[string]any{"lead": []string{"email"}}, "assign_to_creator": true})
	admin.Must(200, "POST", "/v1/plugins/hello/activate", nil)

	noMail := map[string]any{"data": map[string]any{"name": "Wile E."}}
	if r := alice.Must(403, "POST", "/v1/records/lead", noMail); r.ErrorCode() != "missing_field" ||
		!strings.Contains(string(r.Body), "lead: email is required in this install") {
		t.Fatalf("a lead without e-mail: %s", r.Body)
	}
	if n := alice.Must(200, "GET", "/v1/records/lead:count", nil).Object(t)["count"]; n != float64(0) {
		t.Fatalf("%v leads after a refused create", n)
	}
	lead := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner", "email": "rr@example.com"}}).Object(t)
	if lead["owner_id"] != alice.ID {
		t.Fatalf("a new lead's owner: %v", lead["owner_id"])
	}
	path := "/v1/records/lead/" + lead["id"].(string)
	alice.Must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "qualified"}})
	alice.Must(403, "PATCH", path, map[string]any{"data": map[string]any{"email": nil}})
	if r := otherAlice.Must(201, "POST", "/v1/records/lead", noMail).Object(t); r["owner_id"] != nil {
		t.Fatalf("globex's lead was changed by a plugin it did not activate: %v", r)
	}

	// The outbox delivers on its own, soon after the commit.
	var writes map[string]any
	if !harness.Within(10*time.Second, func() bool {
		writes = alice.Must(200, "GET", "/v1/plugins/hello/api/writes", nil).Object(t)["writes"].(map[string]any)
		return writes["create"] == float64(1) && writes["update"] == float64(1) && len(writes) == 2
	}) {
		t.Fatalf("hello's write counts: %v", writes)
	}
}
