package e2e

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestChangeAUser is Nextiva's "Edit Profile → Role" through two replicas
// on MySQL and Redis with strict-ownership active: an admin on replica A
// changes a rep's role to an owner-only one and the rep's lead list on
// replica B shrinks on the very next request; a report moved to another
// manager shows in the new manager's list at once; a disabled rep's token
// stops working on both replicas and works again once she is enabled;
// the last admin cannot be demoted; every change is audited; the command
// line changes users too.
func TestChangeAUser(t *testing.T) {
	s := startAcme(t, "strict-ownership")
	a, b := s.a, s.b
	admin := s.login("admin@acme.test", a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative (owner only)", "capabilities": []string{}})
	newUser := func(email, role, manager string) string {
		t.Helper()
		body := map[string]any{"email": email, "role": role}
		if manager != "" {
			body["manager_id"] = manager
		}
		return admin.Must(201, "POST", "/v1/users", body).ID(t)
	}
	carolID := newUser("carol@acme.test", "manager", "")
	daveID := newUser("dave@acme.test", "manager", "")
	aliceID := newUser("alice@acme.test", "member", "")
	bobID := newUser("bob@acme.test", "member", carolID)
	onB := func(email string) harness.Client { return s.login(email, b.Base) }
	aliceOnB, carolOnB, daveOnB := onB("alice@acme.test"), onB("carol@acme.test"), onB("dave@acme.test")
	aliceOnA := aliceOnB
	aliceOnA.Base = a.Base

	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
		"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own", "delete": "own"}},
		"manager":   map[string]any{"lead": map[string]any{"view": "reports", "edit": "reports"}},
	}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
	lead := func(name, owner string) string {
		t.Helper()
		return admin.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": name}, "owner_id": owner}).ID(t)
	}
	alices, bobs := lead("Alice's lead", aliceID), lead("Bob's lead", bobID)
	unassigned := admin.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Nobody's lead"}}).ID(t)
	leads := func(u harness.Client) []string { t.Helper(); return u.Must(200, "GET", "/v1/records/lead", nil).IDs(t) }

	t.Run("ARoleChangeShrinksTheListOnTheOtherReplica", func(t *testing.T) {
		sameSet(t, "alice, a member, on B", leads(aliceOnB), []string{alices, bobs, unassigned})
		r := admin.Must(200, "PATCH", "/v1/users/"+aliceID, map[string]any{"role": "sales-rep"}).Object(t)
		if r["role"] != "sales-rep" || r["id"] != aliceID || r["disabled"] != false {
			t.Fatalf("PATCH answered %v", r)
		}
		sameSet(t, "alice, a sales rep, on B at once", leads(aliceOnB), []string{alices})
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
		if role := aliceOnB.Must(200, "GET", "/v1/me", nil).Object(t)["role"].(map[string]any)["name"]; role != "sales-rep" {
			t.Fatalf("B says alice is %v", role)
		}
		sameSet(t, "the decision API's filter", s.filtered(aliceOnB, "lead"), []string{alices})
	})
	t.Run("ANewManagerSeesTheReportAtOnce", func(t *testing.T) {
		sameSet(t, "carol's reports' leads", leads(carolOnB), []string{bobs})
		sameSet(t, "dave's reports' leads", leads(daveOnB), nil)
		admin.Must(200, "PATCH", "/v1/users/"+bobID, map[string]any{"manager_id": daveID})
		sameSet(t, "dave's on B at once", leads(daveOnB), []string{bobs})
		sameSet(t, "carol's on B at once", leads(carolOnB), nil)
		admin.Must(200, "PATCH", "/v1/users/"+bobID, map[string]any{"manager_id": nil})
		sameSet(t, "dave's once bob has no manager", leads(daveOnB), nil)
	})
	t.Run("ADisabledUsersTokenStopsOnBothReplicas", func(t *testing.T) {
		aliceOnA.Must(200, "GET", "/v1/me", nil)
		admin.Must(200, "PATCH", "/v1/users/"+aliceID, map[string]any{"disabled": true})
		for _, c := range []harness.Client{aliceOnB, aliceOnA} {
			if r := c.Do("GET", "/v1/records/lead", nil); r.Status != http.StatusUnauthorized || r.ErrorCode() != "user_disabled" {
				t.Fatalf("%s after alice was disabled: %d %s", c.Base, r.Status, r.Body)
			}
		}
		if r := admin.Do("PUT", "/v1/records/lead/"+unassigned+"/owner", map[string]any{"owner_id": aliceID}); r.Status != 400 || r.ErrorCode() != "user_disabled" {
			t.Fatalf("Assign To a disabled user: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(string(admin.Must(200, "GET", "/v1/users", nil).Body), `"disabled":true`) {
			t.Fatal("the users list does not show alice disabled")
		}
		admin.Must(200, "PATCH", "/v1/users/"+aliceID, map[string]any{"disabled": false})
		sameSet(t, "alice on B, enabled again, with the same token", leads(aliceOnB), []string{alices})
		aliceOnA.Must(200, "GET", "/v1/me", nil)
	})
	t.Run("TheLastAdminStays", func(t *testing.T) {
		for _, body := range []map[string]any{{"role": "manager"}, {"disabled": true}} {
			if r := admin.Must(409, "PATCH", "/v1/users/"+admin.ID, body); r.ErrorCode() != "last_admin" {
				t.Fatalf("%v: %s", body, r.Body)
			}
		}
		if u := admin.Must(200, "GET", "/v1/users/"+admin.ID, nil).Object(t); u["role"] != "admin" || u["disabled"] != false {
			t.Fatalf("the admin after refused changes: %v", u)
		}
		admin.Must(200, "PATCH", "/v1/users/"+bobID, map[string]any{"name": "Bob B."}) // still an admin
	})
	t.Run("EveryChangeIsAudited", func(t *testing.T) {
		db, err := sql.Open("mysql", s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT COALESCE(actor_id, ''), detail FROM crmguard_audit WHERE action = 'user.update' ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var details []string
		for rows.Next() {
			var actor, detail string
			if err := rows.Scan(&actor, &detail); err != nil {
				t.Fatal(err)
			}
			if actor != admin.ID {
				t.Errorf("actor %q, want the admin", actor)
			}
			details = append(details, detail)
		}
		want := []string{
			`{"role":{"from":"member","to":"sales-rep"},"user_id":"` + aliceID + `"}`,
			`{"manager_id":{"from":"` + carolID + `","to":"` + daveID + `"},"user_id":"` + bobID + `"}`,
			`{"manager_id":{"from":"` + daveID + `","to":null},"user_id":"` + bobID + `"}`,
			`{"disabled":{"from":false,"to":true},"user_id":"` + aliceID + `"}`,
			`{"disabled":{"from":true,"to":false},"user_id":"` + aliceID + `"}`,
			`{"name":{"from":"bob","to":"Bob B."},"user_id":"` + bobID + `"}`,
		}
		if strings.Join(details, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit:\n%s\nwant\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("TheCommandLine", func(t *testing.T) {
		c := s.cli
		out := c.Must("user", "update", "--install", "acme", "--user", "alice@acme.test", "--role", "member", "--manager", "carol@acme.test", "--name", "Alice Ames")
		for _, want := range []string{"updated user alice@acme.test in acme, id " + aliceID, "name:    Alice Ames", "role:    member", "manager: carol@acme.test (" + carolID + ")", "state:   enabled"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		sameSet(t, "alice, a member again, on B", leads(aliceOnB), []string{alices, bobs, unassigned})
		c.Must("user", "update", "--install", "acme", "--user", aliceID, "--disable")
		if r := aliceOnB.Do("GET", "/v1/me", nil); r.ErrorCode() != "user_disabled" {
			t.Fatalf("alice on B after user update --disable: %d %s", r.Status, r.Body)
		}
		out = c.Must("user", "update", "--install", "acme", "--user", aliceID, "--enable", "--manager", "")
		if !strings.Contains(out, "manager: none") || !strings.Contains(out, "state:   enabled") {
			t.Fatalf("output:\n%s", out)
		}
		aliceOnB.Must(200, "GET", "/v1/me", nil)
		if out := c.Must("user", "update", "--install", "acme", "--user", aliceID); !strings.HasPrefix(out, "unchanged: user alice@acme.test") {
			t.Fatalf("a change of nothing:\n%s", out)
		}
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--user", aliceID, "--role", "closer"}, 1, `role: no role "closer" in this install`},
			{[]string{"--user", "admin@acme.test", "--disable"}, 1, "without an enabled administrator"},
			{[]string{"--user", "nobody@acme.test", "--name", "X"}, 1, `no user nobody@acme.test in install "acme"`},
			{[]string{"--user", aliceID, "--manager", "nobody@acme.test"}, 1, "--manager: no user nobody@acme.test"},
			{[]string{"--user", aliceID, "--manager", aliceID}, 1, "cannot be their own manager"},
			{[]string{"--user", aliceID, "--disable", "--enable"}, 2, "--disable or --enable, not both"},
			{[]string{"--role", "member"}, 2, "needs --user"},
		} {
			_, errOut, code := c.Run(append([]string{"user", "update", "--install", "acme"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("user update %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
			}
		}
		var u map[string]any
		json.Unmarshal(admin.Must(200, "GET", "/v1/users/"+aliceID, nil).Body, &u)
		if u["role"] != "member" || u["manager_id"] != nil || u["disabled"] != false || u["name"] != "Alice Ames" {
			t.Fatalf("alice after the refused commands: %v", u)
		}
	})
}
