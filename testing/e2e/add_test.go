package e2e

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestAddPermission walks Nextiva's "Owner Only for View, Add and edit"
// on the real binary, plugin processes, MySQL and Redis, with two
// replicas: a sales rep whose strict-ownership scope on contacts is
// view "none", add "none" is refused creating a contact and nothing is
// stored; with add "all" the same rep creates one, on either replica at
// once; a custom role that may add only leads, without any plugin, is
// refused contacts and creates leads; the decision API and the command
// line answer the same.
func TestAddPermission(t *testing.T) {
	s := startAcme(t, "strict-ownership")
	admin := s.login("admin@acme.test", s.a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative"})
	admin.Must(201, "POST", "/v1/users", map[string]any{"email": "alice@acme.test", "role": "sales-rep"})
	alice := s.login("alice@acme.test", s.a.Base)
	aliceOnB := alice
	aliceOnB.Base = s.b.Base
	contact := map[string]any{"data": map[string]any{"name": "Wile E. Coyote"}}
	admin.Must(201, "POST", "/v1/records/contact", contact)
	aliceOnB.Must(201, "POST", "/v1/records/contact", contact) // warm on B: allowed

	scope := func(add string) {
		t.Helper()
		admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
			"sales-rep": map[string]any{"contact": map[string]any{"view": "none", "add": add}}}})
	}
	scope("none")
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	t.Run("ARepWithoutAddRightsIsRefusedAndNothingIsStored", func(t *testing.T) {
		before := s.rows(t)
		count := admin.Must(200, "GET", "/v1/records/contact:count", nil).Object(t)["count"]
		for _, u := range []harness.Client{alice, aliceOnB} {
			r := u.Must(403, "POST", "/v1/records/contact", contact)
			if r.ErrorCode() != "add_not_allowed" || !strings.Contains(string(r.Body), "your role may not add contact records") {
				t.Fatalf("%s: %s", u.Base, r.Body)
			}
		}
		if now := admin.Must(200, "GET", "/v1/records/contact:count", nil).Object(t)["count"]; now != count {
			t.Fatalf("%v contacts after the refused creates, %v before", now, count)
		}
		if after := s.rows(t); after != before {
			t.Fatalf("rows of records, audit and outbox: %v after the refused creates, %v before", after, before)
		}
		if got := mayAdd(t, aliceOnB); got != "lead,account,opportunity,activity" {
			t.Fatalf("may_add on B: %s", got)
		}
		if aliceOnB.Must(200, "GET", "/v1/records/contact", nil).IDs(t) != nil {
			t.Fatal("view none: the rep lists contacts")
		}
	})
	t.Run("AddAllLetsTheRepCreateAtOnceOnEveryReplica", func(t *testing.T) {
		scope("all")
		aliceOnB.Must(201, "POST", "/v1/records/contact", contact)
		alice.Must(201, "POST", "/v1/records/contact", contact)
		if got := mayAdd(t, aliceOnB); got != "lead,contact,account,opportunity,activity" {
			t.Fatalf("may_add on B: %s", got)
		}
	})
	t.Run("ACustomRoleAddsOnlyItsTypes", func(t *testing.T) {
		admin.Must(200, "POST", "/v1/plugins/strict-ownership/deactivate", nil)
		role := admin.Must(201, "PUT", "/v1/roles/lead-hunter", map[string]any{"add": []string{"lead"}}).Object(t)
		if add, _ := role["add"].([]any); len(add) != 1 || add[0] != "lead" {
			t.Fatalf("the role: %v", role)
		}
		admin.Must(201, "POST", "/v1/users", map[string]any{"email": "bob@acme.test", "role": "lead-hunter"})
		bob := s.login("bob@acme.test", s.b.Base)
		if r := bob.Must(403, "POST", "/v1/records/contact", contact); r.ErrorCode() != "add_not_allowed" {
			t.Fatalf("contact: %s", r.Body)
		}
		bob.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner"}})
		if got := mayAdd(t, bob); got != "lead" {
			t.Fatalf("may_add: %s", got)
		}

		results := s.service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": bob.ID, "action": "add", "type": "contact"},
			map[string]any{"user_id": bob.ID, "action": "add", "type": "lead"},
		}}).Object(t)["results"].([]any)
		if results[0].(map[string]any)["allowed"] != false || results[1].(map[string]any)["allowed"] != true {
			t.Fatalf("decision API: %v", results)
		}
		if r := s.service.Must(400, "POST", "/v1/authz/filter", map[string]any{"user_id": bob.ID, "action": "add", "type": "lead"}); r.ErrorCode() != "invalid_action" {
			t.Fatalf("filter with add: %s", r.Body)
		}
		for typ, want := range map[string]string{"contact": "denied", "lead": "allowed"} {
			if out := s.cli.Must("check", "--install", "acme", "--email", "bob@acme.test", "--type", typ, "--action", "add"); strings.TrimSpace(out) != want {
				t.Fatalf("crmguard check add %s: %q, want %s", typ, out, want)
			}
		}
	})
}

// TestAddCheckInAdoptionMode: an adopted CRM asks whether a user may add
// a contact before it shows its "New" button; the answer follows the
// strict-ownership add scope of the user's role, over the types the CRM
// keeps.
func TestAddCheckInAdoptionMode(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "jetpackcrm"}
	a.tables = a.schema()
	a.jetpackUsers()
	serveAdopted(a, "jetpackcrm", storeDSNOf(t, crmName), nil, "strict-ownership")
	admin := a.as("1")
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
		"member": map[string]any{"contact": map[string]any{"view": "own", "add": "none"}}}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
	for _, c := range []struct {
		user, typ string
		want      bool
	}{{"2", "contact", false}, {"2", "lead", true}, {"1", "contact", true}} {
		r := a.service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": c.user, "action": "add", "type": c.typ}}}).Object(t)
		if got := r["results"].([]any)[0].(map[string]any)["allowed"]; got != c.want {
			t.Errorf("may %s add a %s: %v, want %v", c.user, c.typ, got, c.want)
		}
	}
	// The CRM keeps leads and contacts only.
	if got := mayAdd(t, a.as("2")); got != "lead" {
		t.Errorf("may_add: %s", got)
	}
	r := a.service.Must(400, "POST", "/v1/authz/check", map[string]any{"checks": []any{
		map[string]any{"user_id": "2", "action": "add", "type": "account"}}})
	if r.ErrorCode() != "invalid_record_type" {
		t.Errorf("add of a type the CRM does not keep: %s", r.Body)
	}
	a.checkSchemaUnchanged()
}

// mayAdd is the may_add of GET /v1/me, joined by commas.
func mayAdd(t *testing.T, u harness.Client) string {
	t.Helper()
	var types []string
	for _, v := range u.Must(200, "GET", "/v1/me", nil).Object(t)["may_add"].([]any) {
		types = append(types, v.(string))
	}
	return strings.Join(types, ",")
}

// rows counts the rows a create writes: records, audit entries and
// outbox events, across the database.
func (s acme) rows(t *testing.T) [3]int {
	t.Helper()
	db, err := sql.Open("mysql", s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [3]int
	for i, table := range []string{"crmguard_records", "crmguard_audit", "crmguard_outbox"} {
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
