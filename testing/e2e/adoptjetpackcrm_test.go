package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

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
		sameSet(t, "unassigned leads, for the admin", admin.Must(200, "GET", "/v1/records/lead?owner=none", nil).IDs(t), []string{"4"})
		if owner := admin.Must(200, "GET", "/v1/records/lead/4", nil).Object(t)["owner_id"]; owner != nil {
			t.Errorf("a lead with zbs_owner -1 has owner_id %v, want null", owner)
		}
		bob.Must(404, "GET", "/v1/records/lead/1", nil)
		alice.Must(404, "GET", "/v1/records/lead/5", nil) // a customer is not a lead
		for _, bad := range []string{"1abc", "01", "1.5"} {
			if code := alice.Must(400, "GET", "/v1/records/lead/"+bad, nil).ErrorCode(); code != "invalid_id" {
				t.Errorf("id %q: %s", bad, code)
			}
		}
	})

	t.Run("the filter, appended to the CRM's own query, selects what the API lists", func(t *testing.T) {
		a.t = t
		for _, u := range []harness.Client{alice, bob} {
			sameSet(t, "lead filter of "+u.ID, a.filtered(u, "lead", "wp_zbs_contacts", "ID"), a.list(u, "lead"))
			sameSet(t, "contact filter of "+u.ID, a.filtered(u, "contact", "wp_zbs_contacts", "ID"), a.list(u, "contact"))
		}
	})

	t.Run("an owner change made in the CRM is honoured on the next request", func(t *testing.T) {
		a.t = t
		bob.Must(404, "GET", "/v1/records/lead/2", nil)
		a.exec("UPDATE wp_zbs_contacts SET zbs_owner = 3 WHERE ID = 2")
		bob.Must(200, "GET", "/v1/records/lead/2", nil)
		alice.Must(404, "GET", "/v1/records/lead/2", nil)
	})

	t.Run("a row the CRM inserts is seen on the next request", func(t *testing.T) {
		a.t = t
		alice.Must(404, "GET", "/v1/records/lead/20", nil)
		contact(20, 2, "Lead", "Twenty")
		alice.Must(200, "GET", "/v1/records/lead/20", nil)
	})

	t.Run("bulk reassignment writes zbs_owner", func(t *testing.T) {
		a.t = t
		r := admin.Must(200, "POST", "/v1/records/lead:reassign", map[string]any{"from": "2", "to": "3"}).Object(t)
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
		admin.Must(200, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": nil})
		var owner int
		a.crm.QueryRow("SELECT zbs_owner FROM wp_zbs_contacts WHERE ID = 1").Scan(&owner)
		if owner != -1 {
			t.Errorf("zbs_owner after unassigning: %d, want -1", owner)
		}
		admin.Must(200, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": "3"})
		a.crm.QueryRow("SELECT zbs_owner FROM wp_zbs_contacts WHERE ID = 1").Scan(&owner)
		if owner != 3 {
			t.Errorf("zbs_owner after Assign To bob: %d", owner)
		}
		if code := admin.Must(400, "PUT", "/v1/records/lead/1/owner", map[string]any{"owner_id": "3x"}).ErrorCode(); code != "invalid_id" {
			t.Errorf("a bad owner id: %s", code)
		}
	})

	a.srv.Stop(t)
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

	alice.Must(200, "GET", "/v1/records/lead/1", nil)
	a.exec("UPDATE wp_zbs_contacts SET zbs_owner = 3 WHERE ID = 1")
	// Within the bound, the cached facts still decide...
	alice.Must(200, "GET", "/v1/records/lead/1", nil)
	// ...until the CRM says the record changed.
	if code := alice.Must(403, "POST", "/v1/records/lead/1:changed", nil).ErrorCode(); code != "service_token_required" {
		t.Errorf("a user token saying a record changed: %s", code)
	}
	if code := a.service.Must(400, "POST", "/v1/records/lead/x1:changed", nil).ErrorCode(); code != "invalid_id" {
		t.Errorf("a bad id: %s", code)
	}
	a.service.Must(204, "POST", "/v1/records/lead/1:changed", nil)
	alice.Must(404, "GET", "/v1/records/lead/1", nil)
	a.service.Must(204, "POST", "/v1/records/lead/999:changed", nil) // unknown: the same answer

	// That a row does not exist is kept as long, and dropped the same way.
	alice.Must(404, "GET", "/v1/records/lead/2", nil)
	a.exec("INSERT INTO wp_zbs_contacts (ID, zbs_owner, zbsc_status, zbsc_fname, zbsc_created, zbsc_lastupdated) VALUES (2, 2, 'Lead', 'Al', 0, 0)")
	alice.Must(404, "GET", "/v1/records/lead/2", nil)
	a.service.Must(204, "POST", "/v1/records/lead/2:changed", nil)
	alice.Must(200, "GET", "/v1/records/lead/2", nil)

	// A user deactivated in the CRM, which says so: no wait for the copy.
	a.exec("UPDATE wp_users SET user_status = 1 WHERE ID = 2")
	a.service.Must(204, "POST", "/v1/users/2:changed", nil)
	if code := alice.Must(401, "GET", "/v1/me", nil).ErrorCode(); code != "user_disabled" {
		t.Errorf("an inactive CRM user's token: %s, want user_disabled", code)
	}
	// For the decision API an inactive user is no user, as a user an
	// admin disabled is; users are changed in the CRM, not through crmguard.
	if code := a.service.Must(400, "POST", "/v1/authz/filter", map[string]any{"user_id": "2", "action": "view", "type": "lead"}).ErrorCode(); code != "unknown_user" {
		t.Errorf("the decision API about an inactive user: %s", code)
	}
	if code := a.as("1").Must(403, "PATCH", "/v1/users/3", map[string]any{"role": "manager"}).ErrorCode(); code != "crm_managed" {
		t.Errorf("changing a CRM's user: %s", code)
	}
	if code := a.service.Must(400, "POST", "/v1/users/2x:changed", nil).ErrorCode(); code != "invalid_id" {
		t.Errorf("a bad user id: %s", code)
	}
}

// A mapping that does not fit the CRM's schema stops crmguard before it
// changes anything: not even its own tables are created.
func TestAdoptBadMappingNeverStartsHalfway(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	raw, err := os.ReadFile(exampleMapping(t, "jetpackcrm"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), "email: user_email", "email: user_mail", 1)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	c := harness.NewCLI(t, "mysql", storeDSNOf(t, crmName), "CRMGUARD_CONFIG="+path)
	want := `adopt.users.email: column "user_mail" not found in table wp_users; columns are: ID, user_login, user_pass`
	for _, args := range [][]string{{"adopt", "check"}, {"serve", "--addr", "127.0.0.1:0"}, {"migrate"}} {
		_, errOut, code := c.Run(args...)
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

// Users who swap e-mail addresses in the CRM are copied, whatever order
// the copy takes them in: crmguard's addresses are unique per install.
func TestAdoptUsersSwappingEmails(t *testing.T) {
	crmDB, crmName := loadCRM(t, "jetpackcrm")
	a := &adopted{t: t, crm: crmDB, crmName: crmName, slug: "jetpackcrm"}
	a.jetpackUsers()
	serveAdopted(a, "jetpackcrm", storeDSNOf(t, crmName), []string{"CRMGUARD_ADOPT_USER_SYNC=1s"})
	alice, bob := a.as("2"), a.as("3")
	email := func(u harness.Client) string {
		return u.Must(200, "GET", "/v1/me", nil).Object(t)["user"].(map[string]any)["email"].(string)
	}
	if email(alice) != "alice@wp.test" {
		t.Fatalf("alice's address: %s", email(alice))
	}
	a.exec("UPDATE wp_users SET user_email = CASE ID WHEN 2 THEN 'bob@wp.test' ELSE 'alice@wp.test' END WHERE ID IN (2, 3)")
	harness.WaitFor(t, "the swapped addresses to be copied", 15*time.Second, func() bool {
		return email(alice) == "bob@wp.test" && email(bob) == "alice@wp.test"
	})
	if strings.Contains(a.srv.Log(), "copying users and teams from the CRM failed") {
		t.Errorf("a copy failed:\n%s", a.srv.Log())
	}
}
