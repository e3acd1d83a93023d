package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// adopted is a real CRM's schema, loaded unchanged into a database of its
// own, with crmguard serving it through an example mapping.
type adopted struct {
	t       *testing.T
	crm     *sql.DB // the CRM's database, as the CRM itself uses it
	crmName string
	cli     cli
	srv     *server
	slug    string
	tables  map[string]string // SHOW CREATE TABLE of every CRM table, before
	service user
}

// loadCRM creates a database holding the named fixture schema, unchanged.
func loadCRM(t *testing.T, schema string) (*sql.DB, string) {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	storetest.LoadSQL(t, dsn, storetest.CRMSchema(schema))
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, cfg.DBName
}

// exec runs statements on the CRM's database, as the CRM would.
func (a *adopted) exec(query string, args ...any) {
	a.t.Helper()
	if _, err := a.crm.Exec(query, args...); err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
}

var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// schema is SHOW CREATE TABLE of every table of the CRM's database that is
// not crmguard's. The AUTO_INCREMENT counter is data, not schema (the
// fixtures leave it out for the same reason).
func (a *adopted) schema() map[string]string {
	a.t.Helper()
	rows, err := a.crm.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT LIKE 'crmguard%' ORDER BY TABLE_NAME", a.crmName)
	if err != nil {
		a.t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, n := range names {
		var name, create string
		if err := a.crm.QueryRow("SHOW CREATE TABLE `"+n+"`").Scan(&name, &create); err != nil {
			a.t.Fatal(err)
		}
		out[n] = autoIncrement.ReplaceAllString(create, "")
	}
	return out
}

// checkSchemaUnchanged fails unless every CRM table is as it was loaded,
// and no table, trigger or view was added to the CRM's database.
func (a *adopted) checkSchemaUnchanged() {
	a.t.Helper()
	after := a.schema()
	if len(after) != len(a.tables) {
		a.t.Errorf("the CRM's database has %d tables after the run, %d before", len(after), len(a.tables))
	}
	for name, before := range a.tables {
		if after[name] != before {
			a.t.Errorf("table %s changed:\nbefore: %s\nafter:  %s", name, before, after[name])
		}
	}
	var triggers int
	a.crm.QueryRow("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", a.crmName).Scan(&triggers)
	if triggers != 0 {
		a.t.Errorf("%d triggers were added to the CRM's database", triggers)
	}
}

// serveAdopted starts crmguard on the example mapping, with its own tables
// in hostDSN's database, and the named plugins.
func serveAdopted(a *adopted, example, hostDSN string, env []string, plugins ...string) {
	a.t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		a.t.Fatal(err)
	}
	redisSrv := cachetest.StartServer(a.t)
	c := newCLI(a.t, "mysql", hostDSN)
	c.env = append(c.env, "CRMGUARD_CONFIG="+filepath.Join(root, "config", "adopt", example+".yaml"),
		"CRMGUARD_PLUGIN_DIR="+pluginDir(a.t, plugins...), "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.env = append(c.env, env...)
	a.cli = c
	a.srv = c.serve()
	a.service = user{t: a.t, base: a.srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", a.slug, "--service"))}
}

// as is a user of the adopted CRM, by the CRM's user id.
func (a *adopted) as(id string) user {
	a.t.Helper()
	return user{t: a.t, base: a.srv.base, id: id,
		token: strings.TrimSpace(a.cli.must("token", "create", "--install", a.slug, "--user", id))}
}

// list is every id u can list of a type, all pages.
func (a *adopted) list(u user, typ string) []string {
	a.t.Helper()
	var ids []string
	cursor := ""
	for {
		r := u.must(200, "GET", "/v1/records/"+typ+"?limit=2&cursor="+cursor, nil)
		ids = append(ids, r.ids(a.t)...)
		next, _ := r.object(a.t)["next_cursor"].(string)
		if next == "" {
			return ids
		}
		cursor = next
	}
}

// filtered appends the decision API's filter for u to a plain SELECT on
// the CRM's table, run directly on the CRM's database, and returns the ids
// it selects. The filter's branches, each appended to a SELECT of its own
// and merged with UNION, must select the same.
func (a *adopted) filtered(u user, typ, table, idColumn string) []string {
	a.t.Helper()
	f := a.service.must(200, "POST", "/v1/authz/filter", map[string]any{"user_id": u.id, "action": "view", "type": typ}).object(a.t)
	if f["kind"] != "conditional" {
		a.t.Fatalf("filter for %s: %v, want a condition", u.id, f)
	}
	q := f["sql"].(map[string]any)
	ids := a.selectIDs("SELECT `"+idColumn+"` FROM `"+table+"` WHERE "+q["where"].(string), q["args"].([]any))
	var selects []string
	var args []any
	for _, b := range q["branches"].([]any) {
		b := b.(map[string]any)
		selects = append(selects, "(SELECT `"+idColumn+"` FROM `"+table+"` WHERE "+b["where"].(string)+")")
		args = append(args, b["args"].([]any)...)
	}
	sameSet(a.t, "the filter's branches for "+u.id, a.selectIDs(strings.Join(selects, " UNION "), args), ids)
	return ids
}

// selectIDs runs a query of ids on the CRM's database.
func (a *adopted) selectIDs(query string, args []any) []string {
	a.t.Helper()
	rows, err := a.crm.Query(query, args...)
	if err != nil {
		a.t.Fatalf("the filter's SQL does not run on the CRM's table: %v\n%s", err, query)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// check asks the decision API whether user may take action on a record.
func (a *adopted) check(userID, action, typ, id string) bool {
	a.t.Helper()
	r := a.service.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
		map[string]any{"user_id": userID, "action": action, "type": typ, "id": id}}}).object(a.t)
	return r["results"].([]any)[0].(map[string]any)["allowed"].(bool)
}

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
	out := newCLI(t, "mysql", hostDSN)
	root, _ := filepath.Abs("../..")
	out.env = append(out.env, "CRMGUARD_CONFIG="+filepath.Join(root, "config", "adopt", "espocrm.yaml"), "CRMGUARD_ADOPT_DATABASE="+crmName)
	report := out.must("adopt", "check")
	for _, want := range []string{"users", "5 rows, 4 active, 1 administrators", "2 teams, 3 memberships", "lead", "6 records, 5 assigned to 3 owners, 1 unassigned, 5 in a team"} {
		if !strings.Contains(report, want) {
			t.Errorf("adopt check lacks %q:\n%s", want, report)
		}
	}

	serveAdopted(a, "espocrm", hostDSN, []string{"CRMGUARD_ADOPT_DATABASE=" + crmName}, "strict-ownership", "teams", "delegation")
	admin := a.as("admin00000000001")
	ownerOnly(admin, "lead")
	admin.must(200, "POST", "/v1/plugins/teams/activate", nil)
	admin.must(200, "POST", "/v1/plugins/delegation/activate", nil)
	alice, bob, carol := a.as("alice0000000001"), a.as("bob000000000001"), a.as("carol0000000001")

	t.Run("members see only their own rows", func(t *testing.T) {
		a.t = t
		sameSet(t, "alice's leads", a.list(alice, "lead"), []string{"lead00000000001", "lead00000000002", "lead00000000003"})
		sameSet(t, "bob's leads", a.list(bob, "lead"), []string{"lead00000000004"})
		sameSet(t, "carol's leads", a.list(carol, "lead"), []string{"lead00000000005"})
		sameSet(t, "the admin's leads", a.list(admin, "lead"), []string{"lead00000000001", "lead00000000002", "lead00000000003",
			"lead00000000004", "lead00000000005", "lead00000000007"})
		missing := bob.must(404, "GET", "/v1/records/lead/zzzz00000000000", nil)
		hidden := bob.must(404, "GET", "/v1/records/lead/lead00000000001", nil)
		if string(hidden.Body) != string(missing.Body) {
			t.Errorf("a hidden lead answers %s, a missing one %s", hidden.Body, missing.Body)
		}
		bob.must(404, "GET", "/v1/records/lead/lead00000000006", nil) // soft-deleted: gone
		got := alice.must(200, "GET", "/v1/records/lead/lead00000000001", nil).object(t)
		if got["team_id"] != "teamnorth000001" || got["owner_id"] != "alice0000000001" || got["data"].(map[string]any)["first_name"] != "Anna" {
			t.Errorf("lead as served: %v", got)
		}
		sameSet(t, "alice's search", alice.must(200, "GET", "/v1/records/lead?q=ast", nil).ids(t), []string{"lead00000000003"})
	})

	t.Run("the filter, appended to the CRM's own query, selects what the API lists", func(t *testing.T) {
		a.t = t
		for _, u := range []user{alice, bob, carol} {
			sameSet(t, "filter of "+u.id, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
		}
		if !a.check("alice0000000001", "edit", "lead", "lead00000000001") || a.check("bob000000000001", "view", "lead", "lead00000000001") {
			t.Error("check disagrees with the records API")
		}
		r := a.service.must(400, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": "alice0000000001", "action": "view", "type": "lead", "id": "not an id"}}})
		if r.code(t) != "invalid_id" {
			t.Errorf("a bad id: %s", r.Body)
		}
	})

	t.Run("related records come from the child tables", func(t *testing.T) {
		a.t = t
		rel := alice.must(200, "GET", "/v1/records/account/acct00000000001/related", nil).object(t)
		var children []string
		for _, c := range rel["items"].([]any) {
			children = append(children, c.(map[string]any)["id"].(string))
		}
		sameSet(t, "the account's children", children, []string{"cont00000000001", "cont00000000002"})
		contact := alice.must(200, "GET", "/v1/records/contact/cont00000000001", nil).object(t)
		if p, _ := contact["parent"].(map[string]any); p["type"] != "account" || p["id"] != "acct00000000001" {
			t.Errorf("the contact's parent: %v", contact["parent"])
		}
		carol.must(404, "GET", "/v1/records/account/acct00000000001/related", nil)
		// A contact of South under North's account: carol sees the
		// contact, and is not told the account.
		a.exec("INSERT INTO contact (id, first_name, last_name, account_id, assigned_user_id, deleted) VALUES ('cont00000000003', 'Eve', 'Acme', 'acct00000000001', 'carol0000000001', 0)")
		a.exec("INSERT INTO entity_team (entity_id, team_id, entity_type, deleted) VALUES ('cont00000000003', 'teamsouth000001', 'Contact', 0)")
		if p := carol.must(200, "GET", "/v1/records/contact/cont00000000003", nil).object(t)["parent"]; p != nil {
			t.Errorf("carol is told the account she may not see: %v", p)
		}
		for _, c := range carol.must(200, "GET", "/v1/records/contact", nil).object(t)["items"].([]any) {
			if p := c.(map[string]any)["parent"]; p != nil {
				t.Errorf("carol's list names the account she may not see: %v", p)
			}
		}
	})

	t.Run("a delegation shows the delegate the CRM's row, in lists and filters", func(t *testing.T) {
		a.t = t
		alice.must(201, "POST", "/v1/plugins/delegation/api/records/lead/lead00000000001/delegations", map[string]any{"user_id": "bob000000000001"})
		sameSet(t, "bob's leads with a delegation", a.list(bob, "lead"), []string{"lead00000000001", "lead00000000004"})
		sameSet(t, "bob's filter", a.filtered(bob, "lead", "lead", "id"), a.list(bob, "lead"))
		if !a.check("bob000000000001", "view", "lead", "lead00000000001") {
			t.Error("check refuses bob the lead delegated to him")
		}
	})

	t.Run("teams confine members to their teams' rows, matched by entity type", func(t *testing.T) {
		a.t = t
		setScope := func(scope string) {
			admin.must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
				"member": map[string]any{"lead": map[string]any{"view": scope, "edit": "own"}}}})
		}
		setScope("all")
		defer setScope("own")
		// Lead 7 has no team, which teams shows everyone by default.
		north := []string{"lead00000000001", "lead00000000002", "lead00000000003", "lead00000000004", "lead00000000007"}
		sameSet(t, "alice's leads, North's", a.list(alice, "lead"), north)
		// lead 1's entity_team row for South is an Account's.
		sameSet(t, "carol's leads, South's", a.list(carol, "lead"), []string{"lead00000000005", "lead00000000007"})
		carol.must(404, "GET", "/v1/records/lead/lead00000000001", nil)
		if a.check("carol0000000001", "view", "lead", "lead00000000001") || !a.check("carol0000000001", "view", "lead", "lead00000000005") {
			t.Error("check disagrees with the lists about North's and South's leads")
		}
		for _, u := range []user{alice, carol} {
			sameSet(t, "team filter of "+u.id, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
		}
	})

	t.Run("an owner change made in the CRM is honoured on the next request", func(t *testing.T) {
		a.t = t
		alice.must(200, "GET", "/v1/records/lead/lead00000000002", nil)
		a.exec("UPDATE `lead` SET assigned_user_id = 'bob000000000001' WHERE id = 'lead00000000002'")
		alice.must(404, "GET", "/v1/records/lead/lead00000000002", nil)
		bob.must(200, "GET", "/v1/records/lead/lead00000000002", nil)
		if a.check("alice0000000001", "view", "lead", "lead00000000002") {
			t.Error("check still allows alice the lead the CRM gave bob")
		}
		// A team change in the CRM too: the lead leaves North for South.
		a.exec("UPDATE entity_team SET team_id = 'teamsouth000001' WHERE entity_id = 'lead00000000002' AND entity_type = 'Lead'")
		bob.must(404, "GET", "/v1/records/lead/lead00000000002", nil)
	})

	t.Run("edits and Assign To write the CRM's row", func(t *testing.T) {
		a.t = t
		r := alice.must(200, "GET", "/v1/records/lead/lead00000000003", nil)
		alice.must(200, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"title": "CTO", "status": "Assigned"}},
			"If-Match", r.Header.Get("ETag"))
		var title, status, modified string
		a.crm.QueryRow("SELECT title, status, modified_at FROM `lead` WHERE id = 'lead00000000003'").Scan(&title, &status, &modified)
		if title != "CTO" || status != "Assigned" || modified == "2026-01-01 10:00:00" {
			t.Errorf("the CRM's row after the edit: title %q, status %q, modified_at %s", title, status, modified)
		}
		if code := alice.must(400, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"nickname": "x"}}).code(t); code != "unknown_field" {
			t.Errorf("an unmapped field: %s", code)
		}
		if code := alice.must(412, "PATCH", "/v1/records/lead/lead00000000003", map[string]any{"data": map[string]any{"title": "CEO"}},
			"If-Match", r.Header.Get("ETag")).code(t); code != "version_mismatch" {
			t.Errorf("a stale If-Match: %s", code)
		}
		admin.must(200, "PUT", "/v1/records/lead/lead00000000003/owner", map[string]any{"owner_id": "bob000000000001"})
		var owner string
		a.crm.QueryRow("SELECT assigned_user_id FROM `lead` WHERE id = 'lead00000000003'").Scan(&owner)
		if owner != "bob000000000001" {
			t.Errorf("assigned_user_id after Assign To: %q", owner)
		}
		alice.must(404, "GET", "/v1/records/lead/lead00000000003", nil)
		if code := alice.must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"first_name": "New"}}).code(t); code != "crm_managed" {
			t.Errorf("create: %s", code)
		}
	})

	t.Run("the teams plugin's move writes entity_team, for the lead's type only", func(t *testing.T) {
		a.t = t
		r := admin.must(200, "POST", "/v1/plugins/teams/api/records/lead/move", map[string]any{"ids": []string{"lead00000000001"}, "to": "teamsouth000001"}).object(t)
		if r["moved"] != float64(1) {
			t.Errorf("move: %v", r)
		}
		rows := a.selectIDs("SELECT CONCAT(team_id, '/', entity_type) FROM entity_team WHERE entity_id = 'lead00000000001' AND deleted = 0", nil)
		sameSet(t, "lead 1's entity_team rows", rows, []string{"teamsouth000001/Lead", "teamsouth000001/Account"})
		alice.must(404, "GET", "/v1/records/lead/lead00000000001", nil) // alice is not in South
	})

	t.Run("a user deactivated in the CRM loses access at the next copy", func(t *testing.T) {
		a.t = t
		carol.must(200, "GET", "/v1/records/lead/lead00000000005", nil)
		a.exec("UPDATE user SET is_active = 0 WHERE id = 'carol0000000001'")
		waitFor(t, "carol's token to stop working", func() bool {
			return carol.do("GET", "/v1/records/lead/lead00000000005", nil).Status == 401
		})
	})

	a.srv.stop(t)
	a.t = t
	a.checkSchemaUnchanged()
}

// Jetpack CRM: leads and customers in one table, told apart by status,
// with integer ids and owners (-1 and 0 mean nobody); crmguard's tables in
// the WordPress database beside Jetpack's; strict-ownership active.
func TestAdoptJetpackCRM(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "jetpackcrm"}
	a.tables = a.schema()

	a.jetpackUsers()
	contact := func(id, owner int, status, first string) {
		a.exec("INSERT INTO wp_zbs_contacts (ID, zbs_owner, zbsc_status, zbsc_fname, zbsc_lname, zbsc_email, zbsc_created, zbsc_lastupdated)"+
			" VALUES (?, ?, ?, ?, 'Doe', ?, 1767261600, 1767261600)", id, owner, status, first, strings.ToLower(first)+"@example.test")
	}
	contact(1, 2, "Lead", "Ann")
	contact(2, 2, "Lead", "Al")
	contact(3, 3, "Lead", "Ben")
	contact(4, -1, "Lead", "Nobody")
	contact(5, 2, "Customer", "Cara") // a customer: a contact, not a lead
	contact(10, 2, "Lead", "Ten")     // ids sort as numbers: 10 after 2

	serveAdopted(a, "jetpackcrm", storeDSNOf(t, crmName), nil, "strict-ownership")
	admin := a.as("1")
	ownerOnly(admin, "lead", "contact")
	alice, bob := a.as("2"), a.as("3")

	t.Run("members see only their own rows, of the type's status", func(t *testing.T) {
		a.t = t
		list := a.list(alice, "lead")
		if strings.Join(list, ",") != "10,2,1" {
			t.Errorf("alice's leads, newest id first: %v, want 10,2,1", list)
		}
		sameSet(t, "alice's contacts", a.list(alice, "contact"), []string{"5"})
		sameSet(t, "bob's leads", a.list(bob, "lead"), []string{"3"})
		sameSet(t, "unassigned leads, for the admin", admin.must(200, "GET", "/v1/records/lead?owner=none", nil).ids(t), []string{"4"})
		if owner := admin.must(200, "GET", "/v1/records/lead/4", nil).object(t)["owner_id"]; owner != nil {
			t.Errorf("a lead with zbs_owner -1 has owner_id %v, want null", owner)
		}
		bob.must(404, "GET", "/v1/records/lead/1", nil)
		alice.must(404, "GET", "/v1/records/lead/5", nil) // a customer is not a lead
		for _, bad := range []string{"1abc", "01", "1.5"} {
			if code := alice.must(400, "GET", "/v1/records/lead/"+bad, nil).code(t); code != "invalid_id" {
				t.Errorf("id %q: %s", bad, code)
			}
		}
	})

	t.Run("the filter, appended to the CRM's own query, selects what the API lists", func(t *testing.T) {
		a.t = t
		for _, u := range []user{alice, bob} {
			sameSet(t, "lead filter of "+u.id, a.filtered(u, "lead", "wp_zbs_contacts", "ID"), a.list(u, "lead"))
			sameSet(t, "contact filter of "+u.id, a.filtered(u, "contact", "wp_zbs_contacts", "ID"), a.list(u, "contact"))
		}
	})

	t.Run("an owner change made in the CRM is honoured on the next request", func(t *testing.T) {
		a.t = t
		bob.must(404, "GET", "/v1/records/lead/2", nil)
		a.exec("UPDATE wp_zbs_contacts SET zbs_owner = 3 WHERE ID = 2")
		bob.must(200, "GET", "/v1/records/lead/2", nil)
		alice.must(404, "GET", "/v1/records/lead/2", nil)
	})

	t.Run("a row the CRM inserts is seen on the next request", func(t *testing.T) {
		a.t = t
		alice.must(404, "GET", "/v1/records/lead/20", nil)
		contact(20, 2, "Lead", "Twenty")
		alice.must(200, "GET", "/v1/records/lead/20", nil)
	})

	t.Run("bulk reassignment writes zbs_owner", func(t *testing.T) {
		a.t = t
		r := admin.must(200, "POST", "/v1/records/lead:reassign", map[string]any{"from": "2", "to": "3"}).object(t)
		var left int
		a.crm.QueryRow("SELECT COUNT(*) FROM wp_zbs_contacts WHERE zbs_owner = 2 AND zbsc_status = 'Lead'").Scan(&left)
		if left != 0 {
			t.Errorf("after reassigning alice's leads (%v), %d are still hers", r, left)
		}
		sameSet(t, "alice's leads after the reassignment", a.list(alice, "lead"), nil)
		sameSet(t, "alice's customers stay hers", a.list(alice, "contact"), []string{"5"})
	})

	t.Run("Assign To writes zbs_owner; unassigning writes -1", func(t *testing.T) {
		a.t = t
		admin.must(200, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": nil})
		var owner int
		a.crm.QueryRow("SELECT zbs_owner FROM wp_zbs_contacts WHERE ID = 1").Scan(&owner)
		if owner != -1 {
			t.Errorf("zbs_owner after unassigning: %d, want -1", owner)
		}
		admin.must(200, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": "3"})
		a.crm.QueryRow("SELECT zbs_owner FROM wp_zbs_contacts WHERE ID = 1").Scan(&owner)
		if owner != 3 {
			t.Errorf("zbs_owner after Assign To bob: %d", owner)
		}
		if code := admin.must(400, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": "3x"}).code(t); code != "invalid_id" {
			t.Errorf("a bad owner id: %s", code)
		}
	})

	a.srv.stop(t)
	a.t = t
	a.checkSchemaUnchanged()
}

// jetpackUsers are WordPress's users as WordPress writes them: an
// administrator (1), alice (2, an editor) and bob (3).
func (a *adopted) jetpackUsers() {
	a.t.Helper()
	a.exec("INSERT INTO wp_users (ID, user_login, user_email, display_name, user_status, user_registered) VALUES" +
		" (1, 'admin', 'admin@wp.test', 'Admin', 0, NOW()), (2, 'alice', 'alice@wp.test', 'Alice', 0, NOW())," +
		" (3, 'bob', 'bob@wp.test', 'Bob', 0, NOW())")
	a.exec(`INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (1, 'wp_capabilities', 'a:1:{s:13:"administrator";b:1;}'),` +
		` (2, 'wp_capabilities', 'a:1:{s:6:"editor";b:1;}')`)
}

// ownerOnly configures and activates strict-ownership so that members
// see and edit only their own records of the types.
func ownerOnly(admin user, types ...string) {
	admin.t.Helper()
	scopes := map[string]any{}
	for _, typ := range types {
		scopes[typ] = map[string]any{"view": "own", "edit": "own"}
	}
	admin.must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{"member": scopes}})
	admin.must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
}

// storeDSNOf is the DSN of the CRM's database, for crmguard's tables
// beside the CRM's.
func storeDSNOf(t *testing.T, name string) string {
	t.Helper()
	base := storetest.DefaultMySQLDSN
	if v := os.Getenv("CRMGUARD_TEST_MYSQL_DSN"); v != "" {
		base = v
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 150 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// With adopt.record_cache, decisions may rest on record facts that old;
// the CRM's POST /v1/records/{type}/{id}:changed drops them at once.
func TestAdoptRecordCacheAndChanged(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "jetpackcrm"}
	a.jetpackUsers()
	a.exec("INSERT INTO wp_zbs_contacts (ID, zbs_owner, zbsc_status, zbsc_fname, zbsc_created, zbsc_lastupdated) VALUES (1, 2, 'Lead', 'Ann', 0, 0)")
	serveAdopted(a, "jetpackcrm", storeDSNOf(t, crmName), []string{"CRMGUARD_ADOPT_RECORD_CACHE=60s"}, "strict-ownership")
	admin := a.as("1")
	ownerOnly(admin, "lead")
	alice := a.as("2")

	alice.must(200, "GET", "/v1/records/lead/1", nil)
	a.exec("UPDATE wp_zbs_contacts SET zbs_owner = 3 WHERE ID = 1")
	// Within the bound, the cached facts still decide...
	alice.must(200, "GET", "/v1/records/lead/1", nil)
	// ...until the CRM says the record changed.
	if code := alice.must(403, "POST", "/v1/records/lead/1:changed", nil).code(t); code != "service_token_required" {
		t.Errorf("a user token saying a record changed: %s", code)
	}
	if code := a.service.must(400, "POST", "/v1/records/lead/x1:changed", nil).code(t); code != "invalid_id" {
		t.Errorf("a bad id: %s", code)
	}
	a.service.must(204, "POST", "/v1/records/lead/1:changed", nil)
	alice.must(404, "GET", "/v1/records/lead/1", nil)
	a.service.must(204, "POST", "/v1/records/lead/999:changed", nil) // unknown: the same answer

	// That a row does not exist is kept as long, and dropped the same way.
	alice.must(404, "GET", "/v1/records/lead/2", nil)
	a.exec("INSERT INTO wp_zbs_contacts (ID, zbs_owner, zbsc_status, zbsc_fname, zbsc_created, zbsc_lastupdated) VALUES (2, 2, 'Lead', 'Al', 0, 0)")
	alice.must(404, "GET", "/v1/records/lead/2", nil)
	a.service.must(204, "POST", "/v1/records/lead/2:changed", nil)
	alice.must(200, "GET", "/v1/records/lead/2", nil)

	// A user deactivated in the CRM, which says so: no wait for the copy.
	a.exec("UPDATE wp_users SET user_status = 1 WHERE ID = 2")
	a.service.must(204, "POST", "/v1/users/2:changed", nil)
	alice.must(401, "GET", "/v1/me", nil)
	if code := a.service.must(400, "POST", "/v1/users/2x:changed", nil).code(t); code != "invalid_id" {
		t.Errorf("a bad user id: %s", code)
	}
}

// A mapping that does not fit the CRM's schema stops crmguard before it
// changes anything: not even its own tables are created.
func TestAdoptBadMappingNeverStartsHalfway(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	root, _ := filepath.Abs("../..")
	raw, err := os.ReadFile(filepath.Join(root, "config", "adopt", "jetpackcrm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), "email: user_email", "email: user_mail", 1)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, "mysql", storeDSNOf(t, crmName))
	c.env = append(c.env, "CRMGUARD_CONFIG="+path)
	want := `adopt.users.email: column "user_mail" not found in table wp_users; columns are: ID, user_login, user_pass`
	for _, args := range [][]string{{"adopt", "check"}, {"serve", "--addr", "127.0.0.1:0"}, {"migrate"}} {
		_, errOut, code := c.run(args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("crmguard %v: exit %d, stderr:\n%s\nwant an error naming %q", args, code, errOut, want)
		}
	}
	var tables int
	crmDB.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'crmguard%'", crmName).Scan(&tables)
	if tables != 0 {
		t.Errorf("a refused start left %d crmguard tables behind", tables)
	}
}

// EspoCRM's "multiple assigned users": a lead's owners in entity_user, a
// join table shared by every entity type. Assign To replaces the lead's
// rows of that join table and no other type's.
func TestAdoptOwnersInAJoinTable(t *testing.T) {
	crmDB, crmName := loadCRM(t, "espocrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "espocrm"}
	a.tables = a.schema()
	root, _ := filepath.Abs("../..")
	raw, err := os.ReadFile(filepath.Join(root, "config", "adopt", "espocrm.yaml"))
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
	for _, u := range []user{alice, bob} {
		sameSet(t, "filter of "+u.id, a.filtered(u, "lead", "lead", "id"), a.list(u, "lead"))
	}
	both := alice.must(200, "GET", "/v1/records/lead/lead00000000001", nil).object(t)
	if both["owner_id"] != "alice0000000001" {
		t.Errorf("the first of a lead's owners is its owner_id: %v", both["owner_id"])
	}
	admin.must(200, "PUT", "/v1/records/lead/lead00000000002/owner", map[string]any{"owner_id": "alice0000000001"})
	alice.must(200, "GET", "/v1/records/lead/lead00000000002", nil)
	bob.must(404, "GET", "/v1/records/lead/lead00000000002", nil)
	rows := a.selectIDs("SELECT CONCAT(user_id, '/', entity_type) FROM entity_user WHERE entity_id = 'lead00000000002' AND deleted = 0", nil)
	sameSet(t, "lead 2's entity_user rows after Assign To", rows, []string{"alice0000000001/Lead", "alice0000000001/Account"})
	a.srv.stop(t)
	a.checkSchemaUnchanged()
}

// Users who swap e-mail addresses in the CRM are copied, whatever order
// the copy takes them in: crmguard's addresses are unique per install.
func TestAdoptUsersSwappingEmails(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "jetpackcrm"}
	a.jetpackUsers()
	serveAdopted(a, "jetpackcrm", storeDSNOf(t, crmName), []string{"CRMGUARD_ADOPT_USER_SYNC=1s"})
	alice, bob := a.as("2"), a.as("3")
	email := func(u user) string {
		return u.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["email"].(string)
	}
	if email(alice) != "alice@wp.test" {
		t.Fatalf("alice's address: %s", email(alice))
	}
	a.exec("UPDATE wp_users SET user_email = CASE ID WHEN 2 THEN 'bob@wp.test' ELSE 'alice@wp.test' END WHERE ID IN (2, 3)")
	waitFor(t, "the swapped addresses to be copied", func() bool {
		return email(alice) == "bob@wp.test" && email(bob) == "alice@wp.test"
	})
	if strings.Contains(a.srv.log(), "copying users and teams from the CRM failed") {
		t.Errorf("a copy failed:\n%s", a.srv.log())
	}
}
