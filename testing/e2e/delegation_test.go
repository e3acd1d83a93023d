package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestDelegation runs plugins/delegation with strict-ownership in two
// replicas whose clock a file moves: the annual-leave story (all of
// alice's leads delegated to bob in one call: bob sees and edits them,
// both got alerts, the access history shows it, and at the expiry bob
// gets 404 again, warm caches or not), the specialist story (one
// opportunity, extended by the expiry date the delegate sets on it), a
// role that may not delegate, the admin's clean-up and deactivation.
func TestDelegation(t *testing.T) {
	offset := filepath.Join(t.TempDir(), "clock-offset")
	s := startAcmeWith(t, []string{"CRMGUARD_CLOCK_OFFSET_FILE=" + offset}, "strict-ownership", "delegation")
	a, b, service, login := s.a, s.b, s.service, s.login
	admin := login("admin@acme.test", a.Base)
	for _, role := range []string{"sales-rep", "intern"} {
		admin.Must(201, "PUT", "/v1/roles/"+role, map[string]any{"description": role, "capabilities": []string{}})
	}
	for _, u := range []struct{ email, role string }{{"alice@acme.test", "sales-rep"}, {"bob@acme.test", "sales-rep"}, {"ivy@acme.test", "intern"}} {
		admin.Must(201, "POST", "/v1/users", map[string]any{"email": u.email, "name": strings.Split(u.email, "@")[0], "role": u.role})
	}
	alice, bob, ivy := login("alice@acme.test", a.Base), login("bob@acme.test", a.Base), login("ivy@acme.test", a.Base)
	bobOnB := bob
	bobOnB.Base = b.Base
	own := map[string]any{"view": "own", "edit": "own", "delete": "own"}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
		"sales-rep": map[string]any{"lead": own, "opportunity": own}, "intern": map[string]any{"lead": own}}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
	admin.Must(200, "PUT", "/v1/plugins/delegation/settings", map[string]any{
		"default_days": map[string]any{"lead": 14, "opportunity": 30}, "max_days": 60,
		"expiry_field": "expiry_date", "extension_days": 7,
		"disabled": map[string]any{"lead": map[string]any{"roles": []string{"intern"}}},
	})
	admin.Must(200, "POST", "/v1/plugins/delegation/activate", nil)
	api := "/v1/plugins/delegation/api"

	create := func(u harness.Client, typ, name string) string {
		t.Helper()
		return u.Must(201, "POST", "/v1/records/"+typ, map[string]any{"data": map[string]any{"name": name}, "owner_id": u.ID}).Object(t)["id"].(string)
	}
	var leads []string
	for _, name := range []string{"Acme", "Globex", "Initech"} {
		leads = append(leads, create(alice, "lead", name))
	}
	for _, id := range leads {
		bobOnB.Must(404, "GET", "/v1/records/lead/"+id, nil) // warm on B: not bob's
	}
	// moveClock sets the hosts' clock to at (both replicas read the file
	// within a tenth of a second).
	moveClock := func(at time.Time) {
		t.Helper()
		if err := os.WriteFile(offset, []byte(time.Until(at).Round(time.Millisecond).String()), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	checks := func(u harness.Client, action string, ids []string) []any {
		t.Helper()
		var cs []any
		for _, id := range ids {
			cs = append(cs, map[string]any{"user_id": u.ID, "action": action, "type": "lead", "id": id})
		}
		return service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": cs}).Object(t)["results"].([]any)
	}

	var until time.Time
	t.Run("AnnualLeave", func(t *testing.T) {
		r := alice.Must(200, "POST", api+"/delegations:bulk", map[string]any{"user_id": bob.ID, "type": "lead", "owner_id": alice.ID}).Object(t)
		if d, refused := r["delegated"].([]any), r["refused"].([]any); len(d) != 3 || len(refused) != 0 {
			t.Fatalf("bulk delegation: %v", r)
		}
		var err error
		if until, err = time.Parse(time.RFC3339, r["delegated"].([]any)[0].(map[string]any)["expires_at"].(string)); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(until) - 14*24*time.Hour; d > time.Minute || d < -time.Minute {
			t.Fatalf("a lead's delegation lasts until %v, want 14 days", until)
		}
		sameSet(t, "bob's leads", bobOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t), leads)
		for _, id := range leads {
			bobOnB.Must(200, "GET", "/v1/records/lead/"+id, nil)
		}
		bob.Must(200, "PATCH", "/v1/records/lead/"+leads[0], map[string]any{"data": map[string]any{"stage": "called"}})
		bob.Must(403, "DELETE", "/v1/records/lead/"+leads[0], nil) // a delegation gives view and edit only

		for _, u := range []harness.Client{alice, bob} {
			items := u.Must(200, "GET", "/v1/notifications", nil).Object(t)["items"].([]any)
			if len(items) != 1 || !strings.Contains(items[0].(map[string]any)["subject"].(string), "3 lead records are delegated to bob") {
				t.Fatalf("%s's alerts: %v", u.ID, items)
			}
		}
		history := string(alice.Must(200, "GET", "/v1/records/lead/"+leads[1]+"/access", nil).Body)
		for _, want := range []string{`"grant.create"`, `"source":"delegation"`, bob.ID} {
			if !strings.Contains(history, want) {
				t.Fatalf("the access history has no %s: %s", want, history)
			}
		}

		// The second before the expiry bob still has them, warm; the
		// second after, not, on both replicas, in lists and decisions.
		moveClock(until.Add(-2 * time.Second))
		bobOnB.Must(200, "GET", "/v1/records/lead/"+leads[1], nil)
		if r := checks(bob, "edit", leads[:1]); r[0].(map[string]any)["allowed"] != true {
			t.Fatalf("before the expiry: %v", r)
		}
		moveClock(until.Add(time.Second))
		for _, u := range []harness.Client{bob, bobOnB} {
			for _, id := range leads {
				u.Must(404, "GET", "/v1/records/lead/"+id, nil)
			}
			if ids := u.Must(200, "GET", "/v1/records/lead", nil).IDs(t); len(ids) != 0 {
				t.Fatalf("bob lists %v after the expiry", ids)
			}
		}
		if r := checks(bob, "view", leads); r[0].(map[string]any)["allowed"] != false || r[2].(map[string]any)["allowed"] != false {
			t.Fatalf("after the expiry: %v", r)
		}
		access := alice.Must(200, "GET", "/v1/records/lead/"+leads[1]+"/access", nil).Object(t)
		if expired := access["expired_grants"].([]any); len(expired) != 1 {
			t.Fatalf("the expired delegation is not in the access history: %v", access)
		}
		// The plugin goes by the host's clock: the delegation is expired
		// for it too.
		if items := alice.Must(200, "GET", api+"/records/lead/"+leads[1]+"/delegations?state=all", nil).Object(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["state"] != "expired" {
			t.Fatalf("the plugin does not see the delegation expired: %v", items)
		}
		if items := alice.Do("GET", api+"/delegations?type=lead&state=expired", nil); items.Status != 403 {
			t.Fatalf("a sales rep read the install's delegations: %d", items.Status)
		}
		moveClock(time.Now())
	})
	t.Run("Specialist", func(t *testing.T) {
		opp := create(alice, "opportunity", "Big deal")
		soon := time.Now().Add(3 * 24 * time.Hour).UTC().Truncate(time.Second)
		d := alice.Must(201, "POST", api+"/records/opportunity/"+opp+"/delegations", map[string]any{"user_id": bob.ID, "expires_at": soon}).Object(t)
		bob.Must(200, "GET", "/v1/records/opportunity/"+opp, nil)
		// bob sets the deal's expiry date 20 days out: his delegation
		// reaches to 7 days after it.
		date := time.Now().Add(20 * 24 * time.Hour).UTC().Format(time.DateOnly)
		bob.Must(200, "PATCH", "/v1/records/opportunity/"+opp, map[string]any{"data": map[string]any{"expiry_date": date}})
		day, _ := time.Parse(time.DateOnly, date)
		want := day.Add(24*time.Hour - time.Second + 7*24*time.Hour)
		expiry := func() time.Time {
			items := alice.Must(200, "GET", api+"/records/opportunity/"+opp+"/delegations", nil).Object(t)["items"].([]any)
			at, _ := time.Parse(time.RFC3339, items[0].(map[string]any)["expires_at"].(string))
			return at
		}
		var got time.Time
		if !harness.Within(10*time.Second, func() bool { got = expiry(); return got.Equal(want) }) {
			t.Fatalf("the delegation was not extended: until %v, want %v", got, want)
		}
		// An earlier date does not shorten it; the owner's change does.
		bob.Must(200, "PATCH", "/v1/records/opportunity/"+opp, map[string]any{"data": map[string]any{"expiry_date": time.Now().Add(24 * time.Hour).UTC().Format(time.DateOnly)}})
		time.Sleep(time.Second)
		if !expiry().Equal(want) {
			t.Fatalf("an earlier date shortened the delegation to %v", expiry())
		}
		alice.Must(200, "PATCH", api+"/delegations/"+d["id"].(string), map[string]any{"expires_at": soon})
		if !expiry().Equal(soon) {
			t.Fatalf("the owner's change: until %v, want %v", expiry(), soon)
		}
		// Deactivating the plugin suspends the delegation; reactivating
		// brings it back.
		admin.Must(200, "POST", "/v1/plugins/delegation/deactivate", nil)
		bobOnB.Must(404, "GET", "/v1/records/opportunity/"+opp, nil)
		admin.Must(200, "POST", "/v1/plugins/delegation/activate", nil)
		bobOnB.Must(200, "GET", "/v1/records/opportunity/"+opp, nil)
	})
	t.Run("ADisabledRoleIsRefused", func(t *testing.T) {
		lead := create(ivy, "lead", "Ivy's lead")
		r := ivy.Must(403, "POST", api+"/records/lead/"+lead+"/delegations", map[string]any{"user_id": bob.ID})
		if r.ErrorCode() != "delegation_disabled" {
			t.Fatalf("an intern delegated a lead: %s", r.Body)
		}
		if items := ivy.Must(200, "GET", api+"/records/lead/"+lead+"/delegations?state=all", nil).Object(t)["items"].([]any); len(items) != 0 {
			t.Fatalf("a refused delegation was stored: %v", items)
		}
		if items := bob.Must(200, "GET", "/v1/notifications", nil).Object(t)["items"].([]any); len(items) != 2 { // the bulk's and the specialist's

			t.Fatalf("bob's alerts after a refused delegation: %d", len(items))
		}
		bob.Must(404, "GET", "/v1/records/lead/"+lead, nil)
	})
	t.Run("AdminCleanUp", func(t *testing.T) {
		// Alice delegates her leads to bob again, for five days.
		alice.Must(200, "POST", api+"/delegations:bulk", map[string]any{"user_id": bob.ID, "type": "lead", "ids": leads,
			"expires_at": time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)})
		for _, id := range leads {
			bobOnB.Must(200, "GET", "/v1/records/lead/"+id, nil)
		}
		list := admin.Must(200, "GET", api+"/delegations?type=lead&user="+bob.ID, nil).Object(t)["items"].([]any)
		if len(list) != 3 {
			t.Fatalf("the admin's list of bob's lead delegations: %v", list)
		}
		r := admin.Must(200, "DELETE", api+"/delegations?type=lead", nil).Object(t)
		if r["deleted"] != float64(3) {
			t.Fatalf("clean-up: %v", r)
		}
		for _, id := range leads {
			bobOnB.Must(404, "GET", "/v1/records/lead/"+id, nil)
		}
		var left struct{ Items []json.RawMessage }
		json.Unmarshal(admin.Must(200, "GET", api+"/delegations?state=all", nil).Body, &left)
		if len(left.Items) != 1 { // the opportunity's
			t.Fatalf("after deleting the lead delegations: %d left", len(left.Items))
		}
	})
}
