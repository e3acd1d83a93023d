// Package e2e runs the real crmguard binary against real MySQL and SQLite
// (testing/harness builds it and the plugins once for the package): it sets
// up installs and users with the command line, serves on a random port and
// walks the user stories over HTTP.
package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// TestAssignToStory walks the foundation's story on the real binary and
// real MySQL.
func TestAssignToStory(t *testing.T) {
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t))
	c.Must("migrate")
	c.Must("install", "create", "acme", "--name", "Acme Sales")
	c.Must("install", "create", "globex")
	for _, args := range [][]string{
		{"--install", "acme", "--email", "admin@acme.test", "--role", "admin"},
		{"--install", "acme", "--email", "alice@acme.test"},
		{"--install", "acme", "--email", "bob@acme.test", "--manager", "admin@acme.test"},
		{"--install", "globex", "--email", "mallory@globex.test", "--role", "admin"},
	} {
		c.Must(append([]string{"user", "create"}, args...)...)
	}
	srv := c.Serve()
	login := func(slug, email string) harness.Client {
		t.Helper()
		u := c.Login(t, srv.Base, slug, email)
		if strings.ContainsAny(u.Token, " \n") || !strings.HasPrefix(u.Token, "cg_") {
			t.Fatalf("token create printed more than the token: %q", u.Token)
		}
		return u
	}
	admin, alice, bob := login("acme", "admin@acme.test"), login("acme", "alice@acme.test"), login("acme", "bob@acme.test")
	mallory := login("globex", "mallory@globex.test")

	// Alice (member) creates a lead and assigns it to herself.
	acct := alice.Must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "Road Runner Holdings"}}).Object(t)
	lead := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner", "email": "beep@roadrunner.example"}}).Object(t)
	leadPath := "/v1/records/lead/" + lead["id"].(string)
	assigned := alice.Must(200, "PUT", leadPath+"/owner", map[string]any{"owner_id": alice.ID}).Object(t)
	if assigned["owner_id"] != alice.ID {
		t.Fatalf("assigned to %v, want alice", assigned["owner_id"])
	}
	activity := alice.Must(201, "POST", "/v1/records/activity", map[string]any{
		"data": map[string]any{"name": "Call about the lead"}, "parent": map[string]any{"type": "lead", "id": lead["id"]},
	}).Object(t)

	// Bob (member) lists and reads it, but may not edit it.
	if ids := bob.Must(200, "GET", "/v1/records/lead", nil).IDs(t); !contains(ids, lead["id"]) {
		t.Fatalf("bob's list %v lacks the lead", ids)
	}
	bob.Must(200, "GET", leadPath, nil)
	if r := bob.Must(403, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "won"}}); r.ErrorCode() != "not_owner" {
		t.Fatalf("bob's PATCH: %s", r.Body)
	}

	// An admin edits it.
	edited := admin.Must(200, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "qualified"}}).Object(t)
	if edited["data"].(map[string]any)["stage"] != "qualified" {
		t.Fatalf("admin's edit not applied: %v", edited)
	}

	// Bob edits an unassigned lead.
	open := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Unassigned lead"}}).Object(t)
	bob.Must(200, "PATCH", "/v1/records/lead/"+open["id"].(string), map[string]any{"data": map[string]any{"stage": "contacted"}})

	// A concurrent PATCH with a stale If-Match gets 412 and changes nothing.
	read := alice.Must(200, "GET", leadPath, nil)
	version := read.Header.Get("ETag")
	alice.Must(200, "PATCH", leadPath, map[string]any{"data": map[string]any{"amount": 100}}, "If-Match", version)
	if r := alice.Must(412, "PATCH", leadPath, map[string]any{"data": map[string]any{"amount": 999}}, "If-Match", version); r.ErrorCode() != "version_mismatch" {
		t.Fatalf("stale PATCH: %s", r.Body)
	}
	if amount := alice.Must(200, "GET", leadPath, nil).Object(t)["data"].(map[string]any)["amount"]; amount != float64(100) {
		t.Fatalf("amount is %v after the stale PATCH, want 100", amount)
	}

	// A user of a second install gets 404 for alice's lead, like a missing
	// one, and never sees it in lists, search or related records.
	invisible := mallory.Must(404, "GET", leadPath, nil)
	missing := mallory.Must(404, "GET", "/v1/records/lead/"+crm.NewID(), nil)
	if !bytes.Equal(invisible.Body, missing.Body) {
		t.Fatalf("invisible %s differs from missing %s", invisible.Body, missing.Body)
	}
	for _, path := range []string{"/v1/records/lead", "/v1/records/lead?q=road", "/v1/records/lead?owner=" + alice.ID, "/v1/records/account", "/v1/records/activity"} {
		if r := mallory.Must(200, "GET", path, nil); len(r.IDs(t)) != 0 {
			t.Fatalf("%s from globex lists %s", path, r.Body)
		}
	}
	mallory.Must(404, "GET", leadPath+"/related", nil)
	mallory.Must(404, "GET", "/v1/records/account/"+acct["id"].(string)+"/related", nil)
	mallory.Must(404, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "lost"}})
	mallory.Must(404, "DELETE", leadPath, nil)
	mallory.Must(400, "POST", "/v1/records/activity", map[string]any{
		"data": map[string]any{"name": "sneaky"}, "parent": map[string]any{"type": "lead", "id": lead["id"]},
	})

	// In its own install the same searches and related records find it.
	if ids := bob.Must(200, "GET", "/v1/records/lead?q=road", nil).IDs(t); !contains(ids, lead["id"]) {
		t.Fatalf("search from acme: %v", ids)
	}
	if ids := bob.Must(200, "GET", leadPath+"/related", nil).IDs(t); !contains(ids, activity["id"]) {
		t.Fatalf("related from acme: %v", ids)
	}

	// The assignment is in the lead's history, with who and to whom.
	hist := bob.Must(200, "GET", leadPath+"/access", nil)
	if !strings.Contains(string(hist.Body), `"action":"record.assign"`) || !strings.Contains(string(hist.Body), `"to":"`+alice.ID+`"`) {
		t.Fatalf("access history lacks the assignment: %s", hist.Body)
	}

	srv.Stop(t)
}

// TestCommandLineErrors checks that the CLI says what is wrong and exits
// non-zero.
func TestCommandLineErrors(t *testing.T) {
	c := harness.NewCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	c.Must("install", "create", "acme")
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"install", "create", "acme"}, 1, `an install with slug "acme" already exists`},
		{[]string{"install", "create", "Not A Slug"}, 1, "slug:"},
		{[]string{"install", "create"}, 2, "expected the install's slug"},
		{[]string{"user", "create", "--install", "acme"}, 2, "needs --email"},
		{[]string{"user", "create", "--install", "nope", "--email", "a@b.test"}, 1, `no install with slug "nope"`},
		{[]string{"user", "create", "--install", "acme", "--email", "a@b.test", "--role", "pirate"}, 1, `no role "pirate"`},
		{[]string{"token", "create", "--install", "acme", "--email", "ghost@b.test"}, 1, "no user ghost@b.test"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag"},
		{[]string{"migrate", "--db-driver", "postgres"}, 1, `database.driver: must be "mysql" or "sqlite", got "postgres"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := c.Run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.say)
			}
			if out != "" {
				t.Fatalf("a failed command printed on stdout: %q", out)
			}
		})
	}
}

// TestDemo checks that `crmguard demo` is idempotent and that its tokens
// work, on the embedded SQLite default.
func TestDemo(t *testing.T) {
	c := harness.NewCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	first := c.Must("demo")
	second := c.Must("demo")
	srv := c.Serve()
	tokens := demoTokens(t, second)
	if len(tokens) != 4 {
		t.Fatalf("demo printed %d tokens, want 4:\n%s", len(tokens), second)
	}
	alice := harness.Client{T: t, Base: srv.Base, Token: tokens["alice@demo.test"]}
	leads := alice.Must(200, "GET", "/v1/records/lead", nil).IDs(t)
	if len(leads) != 3 {
		t.Fatalf("after two demo runs there are %d leads, want 3", len(leads))
	}
	mine := alice.Must(200, "GET", "/v1/records/lead?owner=me", nil).IDs(t)
	if len(mine) != 1 {
		t.Fatalf("alice owns %d demo leads, want 1", len(mine))
	}
	for email, want := range map[string]string{"alice@demo.test": "allowed", "bob@demo.test": "denied"} {
		out := c.Must("check", "--install", "demo", "--email", email, "--type", "lead", "--id", mine[0], "--action", "edit", "--explain")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[0] != want || len(lines) != 2 {
			t.Fatalf("check for %s: %q, want %s and a reason", email, out, want)
		}
	}
	app := c.ServiceClient(t, srv.Base, "demo")
	r := app.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"user_id": alice.Must(200, "GET", "/v1/users?limit=200", nil).Object(t)["items"].([]any)[0].(map[string]any)["id"], "action": "view", "type": "lead", "id": mine[0]}}})
	if !strings.Contains(string(r.Body), `"allowed":true`) {
		t.Fatalf("service token check: %s", r.Body)
	}
	if _, errOut, code := c.Run("token", "create", "--install", "demo", "--service", "--email", "alice@demo.test"); code != 2 || !strings.Contains(errOut, "exactly one of --email, --user and --service") {
		t.Fatalf("token create with both: exit %d %s", code, errOut)
	}

	old := harness.Client{T: t, Base: srv.Base, Token: demoTokens(t, first)["alice@demo.test"]}
	if r := old.Do("GET", "/v1/me", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a replaced demo token still works: %d", r.Status)
	}
	srv.Stop(t)
}

func demoTokens(t *testing.T, out string) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(f[2], "cg_") {
			tokens[f[0]] = f[2]
		}
	}
	return tokens
}

func contains(ids []string, id any) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
