package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestTeams runs plugins/teams (and with it strict-ownership) in two
// replicas of the host sharing MySQL and Redis: two teams of one install
// never see each other's records in lists, search, counts, related
// records, direct links or the decision API; a member of both sees both;
// an administrator sees all; records get a team on creation; moves and
// assignments across teams are controlled; a membership change holds on
// the other replica at the next request; with strict-ownership the two
// constraints compose; deactivation brings the base behaviour back.
func TestTeams(t *testing.T) {
	s := startAcme(t, "teams", "strict-ownership")
	c, a, b, service, login := s.cli, s.a, s.b, s.service, s.login
	admin := login("admin@acme.test", a.base)
	admin.must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	for _, email := range []string{"ann@acme.test", "ben@acme.test", "cid@acme.test"} {
		admin.must(201, "POST", "/v1/users", map[string]any{"email": email, "name": strings.Split(email, "@")[0], "role": "sales-rep"})
	}
	ann, ben, cid := login("ann@acme.test", a.base), login("ben@acme.test", a.base), login("cid@acme.test", a.base)
	annOnB := ann
	annOnB.base = b.base

	team := func(name string) string {
		t.Helper()
		return admin.must(201, "POST", "/v1/teams", map[string]any{"name": name}).object(t)["id"].(string)
	}
	members := func(team string, ms ...map[string]any) {
		t.Helper()
		admin.must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": ms})
	}
	member := func(u user, primary bool) map[string]any { return map[string]any{"user_id": u.id, "primary": primary} }
	sales, support := team("Sales"), team("Support")
	members(sales, member(ann, false), member(cid, false))
	members(support, member(ben, false), member(cid, true)) // cid's primary team: support

	// Settings naming an unknown role are refused, and nothing is saved.
	if r := admin.must(400, "PUT", "/v1/plugins/teams/settings", map[string]any{"cross_team_roles": []string{"admin", "regional-lead"}}); !strings.Contains(string(r.Body), "cross_team_roles[1]") {
		t.Fatalf("settings with an unknown role: %s", r.Body)
	}
	if saved := admin.must(200, "GET", "/v1/plugins/teams/settings", nil).Body; strings.Contains(string(saved), "regional-lead") {
		t.Fatalf("refused settings were saved: %s", saved)
	}
	admin.must(200, "POST", "/v1/plugins/teams/activate", nil)

	create := func(u user, typ, name string, extra map[string]any) map[string]any {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}}
		for k, v := range extra {
			body[k] = v
		}
		return u.must(201, "POST", "/v1/records/"+typ, body).object(t)
	}
	annLead := create(ann, "lead", "Acme widgets", map[string]any{"owner_id": ann.id})
	benLead := create(ben, "lead", "Acme support contract", map[string]any{"owner_id": ben.id})
	cidLead := create(cid, "lead", "Acme renewal", nil)
	unteamed := create(admin, "lead", "Acme inbound", nil) // the admin is in no team
	for _, c := range []struct {
		what string
		rec  map[string]any
		want any
	}{{"ann's lead", annLead, sales}, {"ben's lead", benLead, support}, {"cid's lead (primary team)", cidLead, support}, {"the admin's lead", unteamed, nil}} {
		if c.rec["team_id"] != c.want {
			t.Fatalf("%s went to team %v, want %v", c.what, c.rec["team_id"], c.want)
		}
	}
	id := func(r map[string]any) string { return r["id"].(string) }
	account := create(admin, "account", "ACME Corp", map[string]any{"team_id": sales})
	parent := map[string]any{"type": "account", "id": id(account)}
	salesCall := create(admin, "activity", "Call Acme", map[string]any{"team_id": sales, "parent": parent})
	supportCall := create(admin, "activity", "Call Acme support", map[string]any{"team_id": support, "parent": parent})

	salesLeads := []string{id(annLead), id(unteamed)}
	missing := ann.must(404, "GET", "/v1/records/lead/01J0000000000000000000000Z", nil).Body

	t.Run("TeamsDoNotSeeEachOther", func(t *testing.T) {
		sameSet(t, "ann's list", ann.must(200, "GET", "/v1/records/lead", nil).ids(t), salesLeads)
		sameSet(t, "ben's list", ben.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{id(benLead), id(cidLead), id(unteamed)})
		sameSet(t, "ann's search", ann.must(200, "GET", "/v1/records/lead?q=Acme", nil).ids(t), salesLeads)
		sameSet(t, "ann's editable", ann.must(200, "GET", "/v1/records/lead?can=edit", nil).ids(t), salesLeads)
		if n := ann.must(200, "GET", "/v1/records/lead:count?q=Acme", nil).object(t)["count"]; n != float64(2) {
			t.Fatalf("ann's count: %v", n)
		}
		for _, other := range []string{id(benLead), id(cidLead)} {
			if body := ann.must(404, "GET", "/v1/records/lead/"+other, nil).Body; string(body) != string(missing) {
				t.Fatalf("another team's lead answers %s, a missing one %s", body, missing)
			}
			ann.must(404, "PATCH", "/v1/records/lead/"+other, map[string]any{"data": map[string]any{"stage": "mine"}})
		}
		sameSet(t, "related", ann.must(200, "GET", "/v1/records/account/"+id(account)+"/related", nil).ids(t), []string{id(salesCall)})
		ann.must(404, "GET", "/v1/records/activity/"+id(supportCall), nil)
		results := service.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": ann.id, "action": "view", "type": "lead", "id": id(annLead)},
			map[string]any{"user_id": ann.id, "action": "view", "type": "lead", "id": id(benLead)},
			map[string]any{"user_id": ben.id, "action": "edit", "type": "lead", "id": id(annLead)},
		}}).object(t)["results"].([]any)
		if results[0].(map[string]any)["allowed"] != true || results[1].(map[string]any)["allowed"] != false || results[2].(map[string]any)["allowed"] != false {
			t.Fatalf("decision API: %v", results)
		}
		// The team API counts only what the caller may see, in their teams.
		counts := ann.must(200, "GET", "/v1/plugins/teams/api/counts?type=lead", nil)
		if strings.Contains(string(counts.Body), support) {
			t.Fatalf("ann's counts name the support team: %s", counts.Body)
		}
		var got struct {
			Teams []struct {
				ID    string
				Total float64
			}
			Unteamed struct{ Total float64 }
		}
		json.Unmarshal(counts.Body, &got)
		if len(got.Teams) != 1 || got.Teams[0].ID != sales || got.Teams[0].Total != 1 || got.Unteamed.Total != 1 {
			t.Fatalf("ann's counts: %s", counts.Body)
		}
	})
	t.Run("TheFilterSQLSelectsWhatTheListShows", func(t *testing.T) {
		for _, u := range []user{ann, ben, cid} {
			sameSet(t, "filter of "+u.id, s.filtered(u, "lead"), u.must(200, "GET", "/v1/records/lead", nil).ids(t))
		}
	})
	t.Run("AMemberOfBothSeesBoth", func(t *testing.T) {
		sameSet(t, "cid's list", cid.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{id(annLead), id(benLead), id(cidLead), id(unteamed)})
		cid.must(200, "GET", "/v1/records/activity/"+id(supportCall), nil)
	})
	t.Run("AnAdminSeesAll", func(t *testing.T) {
		sameSet(t, "the admin's list", admin.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{id(annLead), id(benLead), id(cidLead), id(unteamed)})
		body := string(admin.must(200, "GET", "/v1/plugins/teams/api/counts", nil).Body)
		if !strings.Contains(body, sales) || !strings.Contains(body, support) {
			t.Fatalf("the admin's counts: %s", body)
		}
	})
	t.Run("CreationMovesAndAssignment", func(t *testing.T) {
		before := admin.must(200, "GET", "/v1/records/lead:count", nil).object(t)["count"]
		if r := ann.must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Sneak"}, "team_id": support}); r.code(t) != "team_mismatch" {
			t.Fatalf("a lead created in another team: %s", r.Body)
		}
		if r := ann.must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Gift"}, "owner_id": ben.id}); r.code(t) != "team_mismatch" {
			t.Fatalf("a new lead given to another team's member: %s", r.Body)
		}
		if after := admin.must(200, "GET", "/v1/records/lead:count", nil).object(t)["count"]; after != before {
			t.Fatalf("refused creations stored leads: %v, %v before", after, before)
		}
		if r := ann.must(403, "PATCH", "/v1/records/lead/"+id(annLead), map[string]any{"team_id": support}); r.code(t) != "team_move_not_allowed" {
			t.Fatalf("a member moved a lead out of the team: %s", r.Body)
		}
		if r := ann.must(403, "PUT", "/v1/records/lead/"+id(annLead)+"/owner", map[string]any{"owner_id": ben.id}); r.code(t) != "team_mismatch" {
			t.Fatalf("a lead assigned outside its team: %s", r.Body)
		}
		ann.must(200, "PUT", "/v1/records/lead/"+id(annLead)+"/owner", map[string]any{"owner_id": cid.id}) // cid is in sales
		moved := admin.must(200, "PATCH", "/v1/records/lead/"+id(cidLead), map[string]any{"team_id": sales}).object(t)
		if moved["team_id"] != sales {
			t.Fatalf("the admin's move: %v", moved)
		}
		ann.must(200, "GET", "/v1/records/lead/"+id(cidLead), nil)

		// With assign_moves_team, assigning outside the team moves the
		// record to the assignee's primary team, and the history says so.
		admin.must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"assign_moves_team": true})
		lead := create(ann, "lead", "Hand over", nil)
		given := ann.must(200, "PUT", "/v1/records/lead/"+id(lead)+"/owner", map[string]any{"owner_id": ben.id}).object(t)
		if given["team_id"] != support {
			t.Fatalf("the assignment did not move the lead to ben's team: %v", given)
		}
		annOnB.must(404, "GET", "/v1/records/lead/"+id(lead), nil)
		history := string(admin.must(200, "GET", "/v1/records/lead/"+id(lead)+"/access", nil).Body)
		for _, want := range []string{`"by_plugin":true`, `"from":"` + sales, `"to":"` + support} {
			if !strings.Contains(history, want) {
				t.Fatalf("the move is not in the history (%s): %s", want, history)
			}
		}
		// With unteamed records for admins only, a member's new record
		// gets the member's team before its assignment is decided.
		admin.must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"unteamed_visible_to": "admins"})
		ownNew := create(ann, "lead", "Mine, in my team", map[string]any{"owner_id": ann.id})
		if ownNew["team_id"] != sales {
			t.Fatalf("a member's assigned new lead: %v", ownNew)
		}
		ann.must(404, "GET", "/v1/records/lead/"+id(unteamed), nil)
		admin.must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{})
		admin.must(204, "DELETE", "/v1/records/lead/"+id(ownNew), nil)
	})
	t.Run("BulkMoves", func(t *testing.T) {
		move := "/v1/plugins/teams/api/records/lead/move"
		c.must("install", "create", "globex")
		c.must("user", "create", "--install", "globex", "--email", "mallory@globex.test", "--role", "admin")
		mallory := user{t: t, base: a.base, token: strings.TrimSpace(c.must("token", "create", "--install", "globex", "--email", "mallory@globex.test"))}
		foreign := mallory.must(201, "POST", "/v1/teams", map[string]any{"name": "Globex sales"}).object(t)["id"].(string)
		all := func() map[string]any {
			leads := map[string]any{}
			for _, id := range admin.must(200, "GET", "/v1/records/lead", nil).ids(t) {
				leads[id] = admin.must(200, "GET", "/v1/records/lead/"+id, nil).object(t)["team_id"]
			}
			return leads
		}
		before := all()
		for _, bad := range []struct {
			who    user
			body   map[string]any
			status int
			code   string
		}{
			{ann, map[string]any{"from": sales, "to": support}, 403, "admin_only"},
			{admin, map[string]any{"from": sales, "to": foreign}, 400, "unknown_team"},
			{admin, map[string]any{"from": sales, "to": "01J0000000000000000000000Z"}, 400, "unknown_team"},
			{admin, map[string]any{"ids": []string{id(annLead), "01J0000000000000000000000Z"}, "to": support}, 400, "unknown_record"},
			{admin, map[string]any{"ids": []string{id(annLead), id(benLead)}, "from": sales, "to": support}, 400, "not_in_team"},
			{admin, map[string]any{"from": sales}, 400, "invalid_move"},
		} {
			if r := bad.who.must(bad.status, "POST", move, bad.body); r.code(t) != bad.code {
				t.Fatalf("move %v: %s, want %s", bad.body, r.Body, bad.code)
			}
		}
		// An administrator without a cross-team role may not move records
		// out of a team: the plugin's own write hook refuses, with its code.
		admin.must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"cross_team_roles": []string{}})
		if r := admin.must(403, "POST", move, map[string]any{"from": sales, "to": support}); r.code(t) != "team_move_not_allowed" {
			t.Fatalf("a move out of a team by an admin without a cross-team role: %s", r.Body)
		}
		admin.must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{})
		if after := all(); !mapsEqual(after, before) {
			t.Fatalf("a refused move changed teams: %v, was %v", after, before)
		}
		annOnB.must(200, "GET", "/v1/records/lead/"+id(annLead), nil) // warm on B
		r := admin.must(200, "POST", move, map[string]any{"from": sales, "to": support}).object(t)
		if r["moved"] != float64(2) { // ann's and cid's leads
			t.Fatalf("bulk move: %v", r)
		}
		annOnB.must(404, "GET", "/v1/records/lead/"+id(annLead), nil)
		ben.must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
		admin.must(200, "POST", move, map[string]any{"ids": []string{id(annLead), id(cidLead)}, "to": sales})
		annOnB.must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
	})
	t.Run("MembershipChangesHoldAtOnceOnTheOtherReplica", func(t *testing.T) {
		annOnB.must(200, "GET", "/v1/records/lead/"+id(annLead), nil) // warm on B
		members(sales, member(cid, false))
		annOnB.must(404, "GET", "/v1/records/lead/"+id(annLead), nil)
		if slices.Contains(annOnB.must(200, "GET", "/v1/records/lead", nil).ids(t), id(annLead)) {
			t.Fatal("ann still lists her old team's lead")
		}
		members(sales, member(ann, false), member(cid, false))
		annOnB.must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
	})
	t.Run("WithStrictOwnershipBothConstraintsHold", func(t *testing.T) {
		admin.must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
			"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own", "delete": "own"}}}})
		admin.must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
		defer admin.must(200, "POST", "/v1/plugins/strict-ownership/deactivate", nil)
		own := create(ann, "lead", "Ann's own", map[string]any{"owner_id": ann.id}) // in sales
		// Assigned to ann in her team, then moved by the admin: ann's, in
		// a team she is not in.
		elsewhere := create(admin, "lead", "Ann's, in support", map[string]any{"owner_id": ann.id, "team_id": sales})
		admin.must(200, "PATCH", "/v1/records/lead/"+id(elsewhere), map[string]any{"team_id": support})
		// In ann's team, not hers: strict-ownership hides it. Hers, not in
		// her team: teams hides it. Hers in her team: shown.
		sameSet(t, "ann's list under both", annOnB.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{id(own)})
		annOnB.must(404, "GET", "/v1/records/lead/"+id(elsewhere), nil)
		annOnB.must(404, "GET", "/v1/records/lead/"+id(cidLead), nil)
		sameSet(t, "cid's list under both", cid.must(200, "GET", "/v1/records/lead", nil).ids(t), []string{id(annLead), id(cidLead)})
	})
	t.Run("DeactivationRestoresTheBase", func(t *testing.T) {
		admin.must(200, "POST", "/v1/plugins/teams/deactivate", nil)
		annOnB.must(200, "GET", "/v1/records/lead/"+id(benLead), nil)
		sameSet(t, "ann's leads without the plugin", ann.must(200, "GET", "/v1/records/lead", nil).ids(t), admin.must(200, "GET", "/v1/records/lead", nil).ids(t))
		admin.must(200, "POST", "/v1/plugins/teams/activate", nil)
		annOnB.must(404, "GET", "/v1/records/lead/"+id(benLead), nil)
	})
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
