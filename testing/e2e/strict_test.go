package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
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
	admin := login("admin@acme.test", a.base)
	admin.must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	newUser := func(email, role, manager string) {
		t.Helper()
		body := map[string]any{"email": email, "role": role}
		if manager != "" {
			body["manager_id"] = manager
		}
		admin.must(201, "POST", "/v1/users", body)
	}
	newUser("carol@acme.test", "manager", "")
	carol := login("carol@acme.test", a.base)
	newUser("alice@acme.test", "sales-rep", carol.id)
	newUser("bob@acme.test", "sales-rep", "")
	alice, bob := login("alice@acme.test", a.base), login("bob@acme.test", a.base)
	aliceOnB := alice
	aliceOnB.base = b.base

	// Settings are checked: unknown roles, scopes and operators are named.
	for body, want := range map[string]string{
		`{"roles":{"closer":{"lead":{"view":"own"}}}}`:                                                                    "roles.closer",
		`{"roles":{"sales-rep":{"lead":{"view":"mine"}}}}`:                                                                "roles.sales-rep.lead.view: must be",
		`{"assignment_rules":[{"type":"lead","match":[{"field":"c","op":"like","value":"x"}],"assign_to":{"user":"x"}}]}`: "assignment_rules[0].match[0].op: must be",
		`{"assignment_rules":[{"type":"lead","assign_to":{"user":"01J0000000000000000000000Z"}}]}`:                        "assignment_rules[0].assign_to.user",
	} {
		var raw map[string]any
		json.Unmarshal([]byte(body), &raw)
		if r := admin.must(400, "PUT", "/v1/plugins/strict-ownership/settings", raw); !strings.Contains(string(r.Body), want) {
			t.Errorf("settings %s: %s, want a message naming %s", body, r.Body, want)
		}
	}
	settings := map[string]any{
		"roles": map[string]any{
			"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own", "delete": "own"}, "activity": map[string]any{"view": "own"}},
			"manager":   map[string]any{"lead": map[string]any{"view": "reports", "edit": "reports"}},
		},
		"assignment_rules": []any{map[string]any{"name": "germany", "type": "lead",
			"match": []any{map[string]any{"field": "country", "op": "equals", "value": "DE"}}, "assign_to": map[string]any{"user": bob.id}}},
	}
	admin.must(200, "PUT", "/v1/plugins/strict-ownership/settings", settings)
	saved := string(admin.must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body)
	// A bad change leaves the saved settings whole: its good keys are not
	// kept either.
	admin.must(400, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"creator_keeps_access": true, "roles": map[string]any{"closer": map[string]any{}}})
	if now := string(admin.must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body); now != saved {
		t.Fatalf("a refused change altered the settings: %s, was %s", now, saved)
	}
	admin.must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	create := func(u user, typ, name string, extra map[string]any) string {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}}
		for k, v := range extra {
			body[k] = v
		}
		return u.must(201, "POST", "/v1/records/"+typ, body).object(t)["id"].(string)
	}
	aliceDraft := create(alice, "lead", "Acme draft", nil)                               // unassigned, alice created it
	aliceOwn := create(alice, "lead", "Acme deal", map[string]any{"owner_id": alice.id}) // alice's
	bobs := create(bob, "lead", "Acme rival", map[string]any{"owner_id": bob.id})        // bob's, also matches "Acme"
	account := create(admin, "account", "ACME Corp", nil)
	parent := map[string]any{"type": "account", "id": account}
	aliceCall := create(alice, "activity", "Call Acme", map[string]any{"owner_id": alice.id, "parent": parent})
	bobCall := create(bob, "activity", "Call Acme too", map[string]any{"owner_id": bob.id, "parent": parent})

	missing := alice.must(404, "GET", "/v1/records/lead/01J0000000000000000000000Z", nil).Body
	t.Run("ASalesRepSeesOnlyOwnAndCreated", func(t *testing.T) {
		sameSet(t, "list", alice.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{aliceDraft, aliceOwn})
		sameSet(t, "search", alice.must(200, "GET", "/v1/records/lead?q=Acme", nil).ids(t), []string{aliceDraft, aliceOwn})
		if n := alice.must(200, "GET", "/v1/records/lead:count?q=Acme", nil).object(t)["count"]; n != float64(2) {
			t.Fatalf("count: %v", n)
		}
		if body := alice.must(404, "GET", "/v1/records/lead/"+bobs, nil).Body; string(body) != string(missing) {
			t.Fatalf("another's lead answers %s, a missing one %s", body, missing)
		}
		sameSet(t, "related", alice.must(200, "GET", "/v1/records/account/"+account+"/related", nil).ids(t), []string{aliceCall})
		alice.must(200, "GET", "/v1/records/activity/"+aliceCall, nil)
		alice.must(404, "GET", "/v1/records/activity/"+bobCall, nil)
		checks := service.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": alice.id, "action": "view", "type": "lead", "id": aliceOwn},
			map[string]any{"user_id": alice.id, "action": "view", "type": "lead", "id": bobs},
			map[string]any{"user_id": alice.id, "action": "view", "type": "activity", "id": bobCall},
		}}).object(t)["results"].([]any)
		if checks[0].(map[string]any)["allowed"] != true || checks[1].(map[string]any)["allowed"] != false || checks[2].(map[string]any)["allowed"] != false {
			t.Fatalf("decision API: %v", checks)
		}
	})
	t.Run("TheFilterSQLSelectsWhatTheListShows", func(t *testing.T) {
		for _, u := range []user{alice, bob, carol} {
			sameSet(t, "filter of "+u.id, s.filtered(u, "lead"), u.must(200, "GET", "/v1/records/lead", nil).ids(t))
		}
	})
	t.Run("AManagerSeesTheReports", func(t *testing.T) {
		sameSet(t, "carol's list", carol.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{aliceOwn})
		carol.must(200, "PATCH", "/v1/records/lead/"+aliceOwn, map[string]any{"data": map[string]any{"stage": "won"}})
		carol.must(404, "GET", "/v1/records/lead/"+bobs, nil)
	})
	t.Run("AShareGivesAndItsRemovalTakesAway", func(t *testing.T) {
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + bobs + "/shares"
		if r := bob.must(403, "POST", shares, map[string]any{"user_id": alice.id, "access": "view"}); r.code(t) != "not_allowed" {
			t.Fatalf("a sales rep shared: %s", r.Body)
		}
		aliceOnB.must(404, "GET", "/v1/records/lead/"+bobs, nil) // warm on B: refused
		share := admin.must(201, "POST", shares, map[string]any{"user_id": alice.id, "access": "view"}).object(t)
		aliceOnB.must(200, "GET", "/v1/records/lead/"+bobs, nil)
		alice.must(403, "PATCH", "/v1/records/lead/"+bobs, map[string]any{"data": map[string]any{"stage": "mine"}})
		if items := alice.must(200, "GET", shares, nil).object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares: %v", items)
		}
		admin.must(400, "POST", shares, map[string]any{"user_id": "01J0000000000000000000000Z", "access": "view"})
		admin.must(204, "DELETE", shares+"/"+share["id"].(string), nil)
		aliceOnB.must(404, "GET", "/v1/records/lead/"+bobs, nil)
		alice.must(404, "GET", "/v1/records/lead/"+bobs, nil)
		history := admin.must(200, "GET", "/v1/records/lead/"+bobs+"/access", nil)
		if !strings.Contains(string(history.Body), "grant.create") || !strings.Contains(string(history.Body), "grant.revoke") {
			t.Fatalf("access history: %s", history.Body)
		}
	})
	t.Run("AnAssignmentRuleFires", func(t *testing.T) {
		lead := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Berlin", "country": "DE"}}).object(t)
		if lead["owner_id"] != bob.id {
			t.Fatalf("owner: %v, want bob", lead["owner_id"])
		}
		alice.must(404, "GET", "/v1/records/lead/"+lead["id"].(string), nil) // bob's now
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(string(admin.must(200, "GET", "/v1/records/lead/"+lead["id"].(string)+"/access", nil).Body), "strict-ownership.assignment_rule.fired") {
			if time.Now().After(deadline) {
				t.Fatal("the rule that fired is not in the record's history")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r := alice.must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Gift"}, "owner_id": bob.id}); r.code(t) != "assign_own_only" {
			t.Fatalf("a sales rep gave a new lead to bob: %s", r.Body)
		}
	})
	t.Run("ReassignmentKeepsSharesAndHistory", func(t *testing.T) {
		newUser("dave@acme.test", "sales-rep", "")
		dave := login("dave@acme.test", b.base)
		lead := create(admin, "lead", "Reassigned deal", map[string]any{"owner_id": alice.id})
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + lead + "/shares"
		admin.must(201, "POST", shares, map[string]any{"user_id": dave.id, "access": "view"})
		aliceOnB.must(200, "GET", "/v1/records/lead/"+lead, nil) // warm on B
		dave.must(200, "GET", "/v1/records/lead/"+lead, nil)
		admin.must(200, "PUT", "/v1/records/lead/"+lead+"/owner", map[string]any{"owner_id": bob.id})
		aliceOnB.must(404, "GET", "/v1/records/lead/"+lead, nil) // the previous owner loses it at once
		if slices.Contains(aliceOnB.must(200, "GET", "/v1/records/lead", nil).ids(t), lead) {
			t.Fatal("the previous owner still lists the lead")
		}
		bob.must(200, "GET", "/v1/records/lead/"+lead, nil)
		dave.must(200, "GET", "/v1/records/lead/"+lead, nil) // the share survives the change of owner
		if items := admin.must(200, "GET", shares, nil).object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares after reassignment: %v", items)
		}
		history := string(admin.must(200, "GET", "/v1/records/lead/"+lead+"/access", nil).Body)
		for _, want := range []string{`"record.assign"`, alice.id, bob.id, "grant.create"} {
			if !strings.Contains(history, want) {
				t.Fatalf("access history has no %s: %s", want, history)
			}
		}
	})
	t.Run("AShareWithATeam", func(t *testing.T) {
		team := admin.must(201, "POST", "/v1/teams", map[string]any{"name": "Closers"}).object(t)["id"].(string)
		admin.must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": []any{map[string]any{"user_id": alice.id}}})
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + bobs + "/shares"
		aliceOnB.must(404, "GET", "/v1/records/lead/"+bobs, nil)
		share := admin.must(201, "POST", shares, map[string]any{"team_id": team, "access": "view+edit"}).object(t)
		if share["team_id"] != team || share["access"] != "view+edit" {
			t.Fatalf("share: %v", share)
		}
		aliceOnB.must(200, "PATCH", "/v1/records/lead/"+bobs, map[string]any{"data": map[string]any{"stage": "closing"}})
		alice.must(403, "DELETE", "/v1/records/lead/"+bobs, nil) // a share never gives delete
		admin.must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": []any{}})
		aliceOnB.must(404, "GET", "/v1/records/lead/"+bobs, nil) // out of the team, out of the share
		admin.must(204, "DELETE", shares+"/"+share["id"].(string), nil)
	})
	t.Run("SharesStayInTheirInstall", func(t *testing.T) {
		c.must("install", "create", "globex")
		c.must("user", "create", "--install", "globex", "--email", "mallory@globex.test", "--role", "admin")
		mallory := user{t: t, base: a.base, token: strings.TrimSpace(c.must("token", "create", "--install", "globex", "--email", "mallory@globex.test"))}
		mallory.id = mallory.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["id"].(string)
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + aliceOwn + "/shares"
		before := len(admin.must(200, "GET", shares, nil).object(t)["items"].([]any))
		if r := admin.must(400, "POST", shares, map[string]any{"user_id": mallory.id, "access": "view+edit"}); r.code(t) != "invalid_share" {
			t.Fatalf("a share to another install's user: %s", r.Body)
		}
		if after := len(admin.must(200, "GET", shares, nil).object(t)["items"].([]any)); after != before {
			t.Fatalf("a refused share was stored: %d shares, %d before", after, before)
		}
		// The plugin is not active in globex, and acme's records are not there.
		mallory.must(404, "GET", "/v1/plugins/strict-ownership/api/records/lead/"+aliceOwn+"/shares", nil)
		mallory.must(404, "GET", "/v1/records/lead/"+aliceOwn, nil)
	})
	t.Run("DeactivationRestoresTheBase", func(t *testing.T) {
		admin.must(200, "POST", "/v1/plugins/strict-ownership/deactivate", nil)
		aliceOnB.must(200, "GET", "/v1/records/lead/"+bobs, nil)
		all := admin.must(200, "GET", "/v1/records/lead", nil).ids(t)
		sameSet(t, "alice's leads without the plugin", alice.must(200, "GET", "/v1/records/lead", nil).ids(t), all)
		admin.must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
		aliceOnB.must(404, "GET", "/v1/records/lead/"+bobs, nil)
		if r := alice.do("GET", "/v1/records/lead/"+bobs, nil); r.Status != http.StatusNotFound {
			t.Fatalf("after reactivation: %d", r.Status)
		}
	})
}
