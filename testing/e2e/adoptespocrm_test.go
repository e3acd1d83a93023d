package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// EspoCRM: leads, accounts and contacts in EspoCRM's own tables, teams in
// entity_team (shared by every entity type), soft deletes; crmguard's
// tables in a database of their own; strict-ownership and teams active.
func TestAdoptEspoCRM(t *testing.T) {
	crmDB, crmName := loadCRM(t, "espocrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "espocrm"}
	a.tables = a.schema()

	// Users, teams and records as EspoCRM writes them.
	a.exec("INSERT INTO user (id, user_name, type, first_name, last_name, is_active, deleted) VALUES" +
		" ('admin00000000001', 'admin', 'admin', 'Ada', 'Admin', 1, 0)," +
		" ('alice0000000001', 'alice', 'regular', 'Alice', 'Ames', 1, 0)," +
		" ('bob000000000001', 'bob', 'regular', 'Bob', 'Brown', 1, 0)," +
		" ('carol0000000001', 'carol', 'regular', 'Carol', 'Cole', 1, 0)," +
		" ('gone00000000001', 'gone', 'regular', 'Gone', 'User', 0, 0)")
	a.exec("INSERT INTO team (id, name, deleted) VALUES ('teamnorth000001', 'North', 0), ('teamsouth000001', 'South', 0)")
	a.exec("INSERT INTO team_user (team_id, user_id, deleted) VALUES" +
		" ('teamnorth000001', 'alice0000000001', 0), ('teamnorth000001', 'bob000000000001', 0)," +
		" ('teamsouth000001', 'carol0000000001', 0)")
	lead := func(id, owner, first string, deleted int) {
		a.exec("INSERT INTO `lead` (id, first_name, last_name, status, assigned_user_id, created_by_id, deleted, created_at, modified_at)"+
			" VALUES (?, ?, 'Lead', 'New', ?, 'admin00000000001', ?, '2026-01-01 10:00:00', '2026-01-01 10:00:00')", id, first, owner, deleted)
	}
	lead("lead00000000001", "alice0000000001", "Anna", 0)
	lead("lead00000000002", "alice0000000001", "Arne", 0)
	lead("lead00000000003", "alice0000000001", "Asta", 0)
	lead("lead00000000004", "bob000000000001", "Bert", 0)
	lead("lead00000000005", "carol0000000001", "Cleo", 0)
	lead("lead00000000006", "alice0000000001", "Dead", 1) // soft-deleted
	lead("lead00000000007", "", "Free", 0)                // unassigned
	for _, et := range [][3]string{
		{"lead00000000001", "teamnorth000001", "Lead"}, {"lead00000000002", "teamnorth000001", "Lead"},
		{"lead00000000003", "teamnorth000001", "Lead"}, {"lead00000000004", "teamnorth000001", "Lead"},
		{"lead00000000005", "teamsouth000001", "Lead"},
		// Another entity type's row with a lead's id: it must not put the
		// lead in South.
		{"lead00000000001", "teamsouth000001", "Account"},
	} {
		a.exec("INSERT INTO entity_team (entity_id, team_id, entity_type, deleted) VALUES (?, ?, ?, 0)", et[0], et[1], et[2])
	}

	// An account of North with two contacts, a child table naming its
	// parent in account_id.
	a.exec("INSERT INTO account (id, name, assigned_user_id, deleted) VALUES ('acct00000000001', 'Acme', 'alice0000000001', 0)")
	a.exec("INSERT INTO contact (id, first_name, last_name, account_id, assigned_user_id, deleted) VALUES" +
		" ('cont00000000001', 'Cid', 'Acme', 'acct00000000001', 'alice0000000001', 0), ('cont00000000002', 'Dee', 'Acme', 'acct00000000001', 'bob000000000001', 0)")
	a.exec("INSERT INTO entity_team (entity_id, team_id, entity_type, deleted) VALUES ('acct00000000001', 'teamnorth000001', 'Account', 0)," +
		" ('cont00000000001', 'teamnorth000001', 'Contact', 0), ('cont00000000002', 'teamnorth000001', 'Contact', 0)")

	hostDSN := storetest.MySQLDSN(t)
	out := harness.NewCLI(t, "mysql", hostDSN, "CRMGUARD_CONFIG="+exampleMapping(t, "espocrm"), "CRMGUARD_ADOPT_DATABASE="+crmName)
	report := out.Must("adopt", "check")
	for _, want := range []string{"users", "5 rows, 4 active, 1 administrators", "2 teams, 3 memberships", "lead", "6 records, 5 assigned to 3 owners, 1 unassigned, 5 in a team"} {
		if !strings.Contains(report, want) {
			t.Errorf("adopt check lacks %q:\n%s", want, report)
		}
	}

	serveAdopted(a, "espocrm", hostDSN, []string{"CRMGUARD_ADOPT_DATABASE=" + crmName}, "strict-ownership", "teams", "delegation")
	admin := a.as("admin00000000001")
	ownerOnly(admin, "lead")
	admin.Must(200, "POST", "/v1/plugins/teams/activate", nil)
	admin.Must(200, "POST", "/v1/plugins/delegation/activate", nil)
	alice, bob, carol := a.as("alice0000000001"), a.as("bob000000000001"), a.as("carol0000000001")

	t.Run("members see only their own rows", func(t *testing.T) {
		a.t = t
		sameSet(t, "alice's leads", a.list(alice, "lead"), []string{"lead00000000001", "lead00000000002", "lead00000000003"})
		sameSet(t, "bob's leads", a.list(bob, "lead"), []string{"lead00000000004"})
		sameSet(t, "carol's leads", a.list(carol, "lead"), []string{"lead00000000005"})
		sameSet(t, "the admin's leads", a.list(admin, "lead"), []string{"lead00000000001", "lead00000000002", "lead00000000003",
			"lead00000000004", "lead00000000005", "lead00000000007"})
		missing := bob.Must(404, "GET", "/v1/records/lead/zzzz00000000000", nil)
		hidden := bob.Must(404, "GET", "/v1/records/lead/lead00000000001", nil)
		if string(hidden.Body) != string(missing.Body) {
			t.Errorf("a hidden lead answers %s, a missing one %s", hidden.Body, missing.Body)
		}
		bob.Must(404, "GET", "/v1/records/lead/lead00000000006", nil) // soft-deleted: gone
		got := alice.Must(200, "GET", "/v1/records/lead/lead00000000001", nil).Object(t)
		if got["team_id"] != "teamnorth000001" || got["owner_id"] != "alice0000000001" || got["data"].(map[string]any)["first_name"] != "Anna" {
			t.Errorf("lead as served: %v", got)
		}
		sameSet(t, "alice's search", alice.Must(200, "GET", "/v1/records/lead?q=ast", nil).IDs(t), []string{"lead00000000003"})
	})

	t.Run("the filter, appended to the CRM's own query, selects what the API lists", func(t *testing.T) {
		a.t = t
		for _, u := range []harness.Client{alice, bob, carol} {
			sameSet(t, "filter of "+u.ID, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
		}
		if !a.check("alice0000000001", "edit", "lead", "lead00000000001") || a.check("bob000000000001", "view", "lead", "lead00000000001") {
			t.Error("check disagrees with the records API")
		}
		r := a.service.Must(400, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": "alice0000000001", "action": "view", "type": "lead", "id": "not an id"}}})
		if r.ErrorCode() != "invalid_id" {
			t.Errorf("a bad id: %s", r.Body)
		}
	})

	t.Run("related records come from the child tables", func(t *testing.T) {
		a.t = t
		rel := alice.Must(200, "GET", "/v1/records/account/acct00000000001/related", nil).Object(t)
		var children []string
		for _, c := range rel["items"].([]any) {
			children = append(children, c.(map[string]any)["id"].(string))
		}
		sameSet(t, "the account's children", children, []string{"cont00000000001", "cont00000000002"})
		contact := alice.Must(200, "GET", "/v1/records/contact/cont00000000001", nil).Object(t)
		if p, _ := contact["parent"].(map[string]any); p["type"] != "account" || p["id"] != "acct00000000001" {
			t.Errorf("the contact's parent: %v", contact["parent"])
		}
		carol.Must(404, "GET", "/v1/records/account/acct00000000001/related", nil)
		// A contact of South under North's account: carol sees the
		// contact, and is not told the account.
		a.exec("INSERT INTO contact (id, first_name, last_name, account_id, assigned_user_id, deleted) VALUES ('cont00000000003', 'Eve', 'Acme', 'acct00000000001', 'carol0000000001', 0)")
		a.exec("INSERT INTO entity_team (entity_id, team_id, entity_type, deleted) VALUES ('cont00000000003', 'teamsouth000001', 'Contact', 0)")
		if p := carol.Must(200, "GET", "/v1/records/contact/cont00000000003", nil).Object(t)["parent"]; p != nil {
			t.Errorf("carol is told the account she may not see: %v", p)
		}
		for _, c := range carol.Must(200, "GET", "/v1/records/contact", nil).Object(t)["items"].([]any) {
			if p := c.(map[string]any)["parent"]; p != nil {
				t.Errorf("carol's list names the account she may not see: %v", p)
			}
		}
	})

	t.Run("a delegation shows the delegate the CRM's row, in lists and filters", func(t *testing.T) {
		a.t = t
		alice.Must(201, "POST", "/v1/plugins/delegation/api/records/lead/lead00000000001/delegations", map[string]any{"user_id": "bob000000000001"})
		sameSet(t, "bob's leads with a delegation", a.list(bob, "lead"), []string{"lead00000000001", "lead00000000004"})
		sameSet(t, "bob's filter", a.filtered(bob, "lead", "lead", "id"), a.list(bob, "lead"))
		if !a.check("bob000000000001", "view", "lead", "lead00000000001") {
			t.Error("check refuses bob the lead delegated to him")
		}
	})

	t.Run("teams confine members to their teams' rows, matched by entity type", func(t *testing.T) {
		a.t = t
		setScope := func(scope string) {
			admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
				"member": map[string]any{"lead": map[string]any{"view": scope, "edit": "own"}}}})
		}
		setScope("all")
		defer setScope("own")
		// Lead 7 has no team, which teams shows everyone by default.
		north := []string{"lead00000000001", "lead00000000002", "lead00000000003", "lead00000000004", "lead00000000007"}
		sameSet(t, "alice's leads, North's", a.list(alice, "lead"), north)
		// lead 1's entity_team row for South is an Account's.
		sameSet(t, "carol's leads, South's", a.list(carol, "lead"), []string{"lead00000000005", "lead00000000007"})
		carol.Must(404, "GET", "/v1/records/lead/lead00000000001", nil)
		if a.check("carol0000000001", "view", "lead", "lead00000000001") || !a.check("carol0000000001", "view", "lead", "lead00000000005") {
			t.Error("check disagrees with the lists about North's and South's leads")
		}
		for _, u := range []harness.Client{alice, carol} {
			sameSet(t, "team filter of "+u.ID, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
		}
	})

	t.Run("an owner change made in the CRM is honoured on the next request", func(t *testing.T) {
		a.t = t
		alice.Must(200, "GET", "/v1/records/lead/lead00000000002", nil)
		a.exec("UPDATE `lead` SET assigned_user_id = 'bob000000000001' WHERE id = 'lead00000000002'")
		alice.Must(404, "GET", "/v1/records/lead/lead00000000002", nil)
		bob.Must(200, "GET", "/v1/records/lead/lead00000000002", nil)
		if a.check("alice0000000001", "view", "lead", "lead00000000002") {
			t.Error("check still allows alice the lead the CRM gave bob")
		}
		// A team change in the CRM too: the lead leaves North for South.
		a.exec("UPDATE entity_team SET team_id = 'teamsouth000001' WHERE entity_id = 'lead00000000002' AND entity_type = 'Lead'")
		bob.Must(404, "GET", "/v1/records/lead/lead00000000002", nil)
	})

	t.Run("edits and Assign To write the CRM's row", func(t *testing.T) {
		a.t = t
		r := alice.Must(200, "GET", "/v1/records/lead/lead00000000003", nil)
		alice.Must(200, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"title": "CTO", "status": "Assigned"}},
			"If-Match", r.Header.Get("ETag"))
		var title, status, modified string
		a.crm.QueryRow("SELECT title, status, modified_at FROM `lead` WHERE id = 'lead00000000003'").Scan(&title, &status, &modified)
		if title != "CTO" || status != "Assigned" || modified == "2026-01-01 10:00:00" {
			t.Errorf("the CRM's row after the edit: title %q, status %q, modified_at %s", title, status, modified)
		}
		if code := alice.Must(400, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"nickname": "x"}}).ErrorCode(); code != "unknown_field" {
			t.Errorf("an unmapped field: %s", code)
		}
		if code := alice.Must(412, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"title": "CEO"}},
			"If-Match", r.Header.Get("ETag")).ErrorCode(); code != "version_mismatch" {
			t.Errorf("a stale If-Match: %s", code)
		}
		admin.Must(200, "PUT", "/v1/records/lead/lead00000000003/owner", map[string]any{"owner_id": "bob000000000001"})
		var owner string
		a.crm.QueryRow("SELECT assigned_user_id FROM `lead` WHERE id = 'lead00000000003'").Scan(&owner)
		if owner != "bob000000000001" {
			t.Errorf("assigned_user_id after Assign To: %q", owner)
		}
		alice.Must(404, "GET", "/v1/records/lead/lead00000000003", nil)
		if code := alice.Must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"first_name": "New"}}).ErrorCode(); code != "crm_managed" {
			t.Errorf("create: %s", code)
		}
	})

	t.Run("the teams plugin's move writes entity_team, for the lead's type only", func(t *testing.T) {
		a.t = t
		r := admin.Must(200, "POST", "/v1/plugins/teams/api/records/lead/move", map[string]any{"ids": []string{"lead00000000001"}, "to": "teamsouth000001"}).Object(t)
		if r["moved"] != float64(1) {
			t.Errorf("move: %v", r)
		}
		rows := a.selectIDs("SELECT CONCAT(team_id, '/', entity_type) FROM entity_team WHERE entity_id = 'lead00000000001' AND deleted = 0", nil)
		sameSet(t, "lead 1's entity_team rows", rows, []string{"teamsouth000001/Lead", "teamsouth000001/Account"})
		alice.Must(404, "GET", "/v1/records/lead/lead00000000001", nil) // alice is not in South
	})

	t.Run("a user deactivated in the CRM loses access at the next copy", func(t *testing.T) {
		a.t = t
		carol.Must(200, "GET", "/v1/records/lead/lead00000000005", nil)
		a.exec("UPDATE user SET is_active = 0 WHERE id = 'carol0000000001'")
		harness.WaitFor(t, "carol's token to stop working", 15*time.Second, func() bool {
			return carol.Do("GET", "/v1/records/lead/lead00000000005", nil).Status == 401
		})
	})

	a.srv.Stop(t)
	a.t = t
	a.checkSchemaUnchanged()
}

// EspoCRM's "multiple assigned users": a lead's owners in entity_user, a
// join table shared by every entity type. Assign To replaces the lead's
// rows of that join table and no other type's.
func TestAdoptOwnersInAJoinTable(t *testing.T) {
	crmDB, crmName := loadCRM(t, "espocrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "espocrm"}
	a.tables = a.schema()
	raw, err := os.ReadFile(exampleMapping(t, "espocrm"))
	if err != nil {
		t.Fatal(err)
	}
	from := "owner: {column: assigned_user_id, unassigned: [\"\", null]}\n      creator: created_by_id\n      # entity_team"
	if !strings.Contains(string(raw), from) {
		t.Fatal("the example's lead owner is not where the test expects it")
	}
	mapping := strings.Replace(string(raw), from, "owner: {table: entity_user, record: entity_id, column: user_id,"+
		" type: [{column: entity_type, values: [Lead]}], deleted: {column: deleted, values: [1]}}\n      creator: created_by_id\n      # entity_team", 1)
	path := filepath.Join(t.TempDir(), "espocrm-multiple.yaml")
	if err := os.WriteFile(path, []byte(mapping), 0o600); err != nil {
		t.Fatal(err)
	}
	a.exec("INSERT INTO user (id, user_name, type, is_active, deleted) VALUES ('admin00000000001', 'admin', 'admin', 1, 0)," +
		" ('alice0000000001', 'alice', 'regular', 1, 0), ('bob000000000001', 'bob', 'regular', 1, 0)")
	a.exec("INSERT INTO `lead` (id, first_name, deleted) VALUES ('lead00000000001', 'Both', 0), ('lead00000000002', 'Bobs', 0)")
	a.exec("INSERT INTO entity_user (entity_id, user_id, entity_type, deleted) VALUES" +
		" ('lead00000000001', 'alice0000000001', 'Lead', 0), ('lead00000000001', 'bob000000000001', 'Lead', 0)," +
		" ('lead00000000002', 'bob000000000001', 'Lead', 0), ('lead00000000002', 'alice0000000001', 'Lead', 1)," + // soft-deleted
		" ('lead00000000002', 'alice0000000001', 'Account', 0)") // another type's row with the lead's id
	serveAdopted(a, "espocrm", storeDSNOf(t, crmName), []string{"CRMGUARD_CONFIG=" + path, "CRMGUARD_ADOPT_DATABASE="}, "strict-ownership")
	admin := a.as("admin00000000001")
	ownerOnly(admin, "lead")
	alice, bob := a.as("alice0000000001"), a.as("bob000000000001")

	sameSet(t, "alice's leads", a.list(alice, "lead"), []string{"lead00000000001"})
	sameSet(t, "bob's leads", a.list(bob, "lead"), []string{"lead00000000001", "lead00000000002"})
	for _, u := range []harness.Client{alice, bob} {
		sameSet(t, "filter of "+u.ID, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
	}
	both := alice.Must(200, "GET", "/v1/records/lead/lead00000000001", nil).Object(t)
	if both["owner_id"] != "alice0000000001" {
		t.Errorf("the first of a lead's owners is its owner_id: %v", both["owner_id"])
	}
	admin.Must(200, "PUT", "/v1/records/lead/lead00000000002/owner", map[string]any{"owner_id": "alice0000000001"})
	alice.Must(200, "GET", "/v1/records/lead/lead00000000002", nil)
	bob.Must(404, "GET", "/v1/records/lead/lead00000000002", nil)
	rows := a.selectIDs("SELECT CONCAT(user_id, '/', entity_type) FROM entity_user WHERE entity_id = 'lead00000000002' AND deleted = 0", nil)
	sameSet(t, "lead 2's entity_user rows after Assign To", rows, []string{"alice0000000001/Lead", "alice0000000001/Account"})
	a.srv.Stop(t)
	a.checkSchemaUnchanged()
}
