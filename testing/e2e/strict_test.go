package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestStrictOwnership runs plugins/strict-ownership in two replicas of the
// host sharing MySQL and Redis: sales reps see only their own leads and
// activities everywhere a record can show (lists, search, counts, related
// records, direct links, the decision API), a manager sees the reports',
// a share gives access and its removal takes it away on both replicas at
// once, an assignment rule fires, and deactivation brings the base
// behaviour back until reactivation.
func TestStrictOwnership(t *testing.T) {
	s := startAcme(t, "strict-ownership")
	c, a, b, service, login := s.cli, s.a, s.b, s.service, s.login
	admin := login("admin@acme.test", a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	newUser := func(email, role, manager string) {
		t.Helper()
		body := map[string]any{"email": email, "role": role}
		if manager != "" {
			body["manager_id"] = manager
		}
		admin.Must(201, "POST", "/v1/users", body)
	}
	newUser("carol@acme.test", "manager", "")
	carol := login("carol@acme.test", a.Base)
	newUser("alice@acme.test", "sales-rep", carol.ID)
	newUser("bob@acme.test", "sales-rep", "")
	alice, bob := login("alice@acme.test", a.Base), login("bob@acme.test", a.Base)
	aliceOnB := alice
	aliceOnB.Base = b.Base

	// Settings are checked: unknown roles, scopes and operators are named.
	for body, want := range map[string]string{
		`{"roles":{"closer":{"lead":{"view":"own"}}}}`:                                                                    "roles.closer",
		`{"roles":{"sales-rep":{"lead":{"view":"mine"}}}}`:                                                                "roles.sales-rep.lead.view: must be",
		`{"assignment_rules":[{"type":"lead","match":[{"field":"c","op":"like","value":"x"}],"assign_to":{"user":"x"}}]}`: "assignment_rules[0].match[0].op: must be",
		`{"assignment_rules":[{"type":"lead","assign_to":{"user":"01J0000000000000000000000Z"}}]}`:                        "assignment_rules[0].assign_to.user",
	} {
		var raw map[string]any
		json.Unmarshal([]byte(body), &raw)
		if r := admin.Must(400, "PUT", "/v1/plugins/strict-ownership/settings", raw); !strings.Contains(string(r.Body), want) {
			t.Errorf("settings %s: %s, want a message naming %s", body, r.Body, want)
		}
	}
	settings := map[string]any{
		"roles": map[string]any{
			"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own", "delete": "own"}, "activity": map[string]any{"view": "own"}},
			"manager":   map[string]any{"lead": map[string]any{"view": "reports", "edit": "reports"}},
		},
		"assignment_rules": []any{map[string]any{"name": "germany", "type": "lead",
			"match": []any{map[string]any{"field": "country", "op": "equals", "value": "DE"}}, "assign_to": map[string]any{"user": bob.ID}}},
	}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", settings)
	saved := string(admin.Must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body)
	// A bad change leaves the saved settings whole: its good keys are not
	// kept either.
	admin.Must(400, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"creator_keeps_access": true, "roles": map[string]any{"closer": map[string]any{}}})
	if now := string(admin.Must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body); now != saved {
		t.Fatalf("a refused change altered the settings: %s, was %s", now, saved)
	}
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	create := func(u harness.Client, typ, name string, extra map[string]any) string {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}}
		for k, v := range extra {
			body[k] = v
		}
		return u.Must(201, "POST", "/v1/records/"+typ, body).Object(t)["id"].(string)
	}
	aliceDraft := create(alice, "lead", "Acme draft", nil)                               // unassigned, alice created it
	aliceOwn := create(alice, "lead", "Acme deal", map[string]any{"owner_id": alice.ID}) // alice's
	bobs := create(bob, "lead", "Acme rival", map[string]any{"owner_id": bob.ID})        // bob's, also matches "Acme"
	account := create(admin, "account", "ACME Corp", nil)
	parent := map[string]any{"type": "account", "id": account}
	aliceCall := create(alice, "activity", "Call Acme", map[string]any{"owner_id": alice.ID, "parent": parent})
	bobCall := create(bob, "activity", "Call Acme too", map[string]any{"owner_id": bob.ID, "parent": parent})

	missing := alice.Must(404, "GET", "/v1/records/lead/01J0000000000000000000000Z", nil).Body
	t.Run("ASalesRepSeesOnlyOwnAndCreated", func(t *testing.T) {
		sameSet(t, "list", alice.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{aliceDraft, aliceOwn})
		sameSet(t, "search", alice.Must(200, "GET", "/v1/records/lead?q=Acme", nil).IDs(t), []string{aliceDraft, aliceOwn})
		if n := alice.Must(200, "GET", "/v1/records/lead:count?q=Acme", nil).Object(t)["count"]; n != float64(2) {
			t.Fatalf("count: %v", n)
		}
		if body := alice.Must(404, "GET", "/v1/records/lead/"+bobs, nil).Body; string(body) != string(missing) {
			t.Fatalf("another's lead answers %s, a missing one %s", body, missing)
		}
		sameSet(t, "related", alice.Must(200, "GET", "/v1/records/account/"+account+"/related", nil).IDs(t), []string{aliceCall})
		alice.Must(200, "GET", "/v1/records/activity/"+aliceCall, nil)
		alice.Must(404, "GET", "/v1/records/activity/"+bobCall, nil)
		checks := service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": alice.ID, "action": "view", "type": "lead", "id": aliceOwn},
			map[string]any{"user_id": alice.ID, "action": "view", "type": "lead", "id": bobs},
			map[string]any{"user_id": alice.ID, "action": "view", "type": "activity", "id": bobCall},
		}}).Object(t)["results"].([]any)
		if checks[0].(map[string]any)["allowed"] != true || checks[1].(map[string]any)["allowed"] != false || checks[2].(map[string]any)["allowed"] != false {
			t.Fatalf("decision API: %v", checks)
		}
	})
	t.Run("TheFilterSQLSelectsWhatTheListShows", func(t *testing.T) {
		for _, u := range []harness.Client{alice, bob, carol} {
			sameSet(t, "filter of "+u.ID, s.filtered(u, "lead"), u.Must(200, "GET", "/v1/records/lead", nil).IDs(t))
		}
	})
	t.Run("AManagerSeesTheReports", func(t *testing.T) {
		sameSet(t, "carol's list", carol.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{aliceOwn})
		carol.Must(200, "PATCH", "/v1/records/lead/"+aliceOwn, map[string]any{"data": map[string]any{"stage": "won"}})
		carol.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
	})
	t.Run("AShareGivesAndItsRemovalTakesAway", func(t *testing.T) {
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + bobs + "/shares"
		if r := bob.Must(403, "POST", shares, map[string]any{"user_id": alice.ID, "access": "view"}); r.ErrorCode() != "not_allowed" {
			t.Fatalf("a sales rep shared: %s", r.Body)
		}
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil) // warm on B: refused
		share := admin.Must(201, "POST", shares, map[string]any{"user_id": alice.ID, "access": "view"}).Object(t)
		aliceOnB.Must(200, "GET", "/v1/records/lead/"+bobs, nil)
		alice.Must(403, "PATCH", "/v1/records/lead/"+bobs, map[string]any{"data": map[string]any{"stage": "mine"}})
		if items := alice.Must(200, "GET", shares, nil).Object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares: %v", items)
		}
		admin.Must(400, "POST", shares, map[string]any{"user_id": "01J0000000000000000000000Z", "access": "view"})
		admin.Must(204, "DELETE", shares+"/"+share["id"].(string), nil)
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
		alice.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
		history := admin.Must(200, "GET", "/v1/records/lead/"+bobs+"/access", nil)
		if !strings.Contains(string(history.Body), "grant.create") || !strings.Contains(string(history.Body), "grant.revoke") {
			t.Fatalf("access history: %s", history.Body)
		}
	})
	t.Run("AnAssignmentRuleFires", func(t *testing.T) {
		lead := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Berlin", "country": "DE"}}).Object(t)
		if lead["owner_id"] != bob.ID {
			t.Fatalf("owner: %v, want bob", lead["owner_id"])
		}
		alice.Must(404, "GET", "/v1/records/lead/"+lead["id"].(string), nil) // bob's now
		harness.WaitFor(t, "the rule that fired in the record's history", 10*time.Second, func() bool {
			return strings.Contains(string(admin.Must(200, "GET", "/v1/records/lead/"+lead["id"].(string)+"/access", nil).Body), "strict-ownership.assignment_rule.fired")
		})
		if r := alice.Must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Gift"}, "owner_id": bob.ID}); r.ErrorCode() != "assign_own_only" {
			t.Fatalf("a sales rep gave a new lead to bob: %s", r.Body)
		}
	})
	t.Run("ReassignmentKeepsSharesAndHistory", func(t *testing.T) {
		newUser("dave@acme.test", "sales-rep", "")
		dave := login("dave@acme.test", b.Base)
		lead := create(admin, "lead", "Reassigned deal", map[string]any{"owner_id": alice.ID})
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + lead + "/shares"
		admin.Must(201, "POST", shares, map[string]any{"user_id": dave.ID, "access": "view"})
		aliceOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil) // warm on B
		dave.Must(200, "GET", "/v1/records/lead/"+lead, nil)
		admin.Must(200, "PUT", "/v1/records/lead/"+lead+"/owner", map[string]any{"owner_id": bob.ID})
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+lead, nil) // the previous owner loses it at once
		if slices.Contains(aliceOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t), lead) {
			t.Fatal("the previous owner still lists the lead")
		}
		bob.Must(200, "GET", "/v1/records/lead/"+lead, nil)
		dave.Must(200, "GET", "/v1/records/lead/"+lead, nil) // the share survives the change of owner
		if items := admin.Must(200, "GET", shares, nil).Object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares after reassignment: %v", items)
		}
		history := string(admin.Must(200, "GET", "/v1/records/lead/"+lead+"/access", nil).Body)
		for _, want := range []string{`"record.assign"`, alice.ID, bob.ID, "grant.create"} {
			if !strings.Contains(history, want) {
				t.Fatalf("access history has no %s: %s", want, history)
			}
		}
	})
	t.Run("AShareWithATeam", func(t *testing.T) {
		team := admin.Must(201, "POST", "/v1/teams", map[string]any{"name": "Closers"}).Object(t)["id"].(string)
		admin.Must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": []any{map[string]any{"user_id": alice.ID}}})
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + bobs + "/shares"
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
		share := admin.Must(201, "POST", shares, map[string]any{"team_id": team, "access": "view+edit"}).Object(t)
		if share["team_id"] != team || share["access"] != "view+edit" {
			t.Fatalf("share: %v", share)
		}
		aliceOnB.Must(200, "PATCH", "/v1/records/lead/"+bobs, map[string]any{"data": map[string]any{"stage": "closing"}})
		alice.Must(403, "DELETE", "/v1/records/lead/"+bobs, nil) // a share never gives delete
		admin.Must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": []any{}})
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil) // out of the team, out of the share
		admin.Must(204, "DELETE", shares+"/"+share["id"].(string), nil)
	})
	t.Run("SharesStayInTheirInstall", func(t *testing.T) {
		c.Must("install", "create", "globex")
		c.Must("user", "create", "--install", "globex", "--email", "mallory@globex.test", "--role", "admin")
		mallory := c.Login(t, a.Base, "globex", "mallory@globex.test")
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + aliceOwn + "/shares"
		before := len(admin.Must(200, "GET", shares, nil).Object(t)["items"].([]any))
		if r := admin.Must(400, "POST", shares, map[string]any{"user_id": mallory.ID, "access": "view+edit"}); r.ErrorCode() != "invalid_share" {
			t.Fatalf("a share to another install's user: %s", r.Body)
		}
		if after := len(admin.Must(200, "GET", shares, nil).Object(t)["items"].([]any)); after != before {
			t.Fatalf("a refused share was stored: %d shares, %d before", after, before)
		}
		// The plugin is not active in globex, and acme's records are not there.
		mallory.Must(404, "GET", "/v1/plugins/strict-ownership/api/records/lead/"+aliceOwn+"/shares", nil)
		mallory.Must(404, "GET", "/v1/records/lead/"+aliceOwn, nil)
	})
	t.Run("DeactivationRestoresTheBase", func(t *testing.T) {
		admin.Must(200, "POST", "/v1/plugins/strict-ownership/deactivate", nil)
		aliceOnB.Must(200, "GET", "/v1/records/lead/"+bobs, nil)
		all := admin.Must(200, "GET", "/v1/records/lead", nil).IDs(t)
		sameSet(t, "alice's leads without the plugin", alice.Must(200, "GET", "/v1/records/lead", nil).IDs(t), all)
		admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
		aliceOnB.Must(404, "GET", "/v1/records/lead/"+bobs, nil)
		if r := alice.Do("GET", "/v1/records/lead/"+bobs, nil); r.Status != http.StatusNotFound {
			t.Fatalf("after reactivation: %d", r.Status)
		}
	})
}
