package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
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
	admin := login("admin@acme.test", a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	for _, email := range []string{"ann@acme.test", "ben@acme.test", "cid@acme.test"} {
		admin.Must(201, "POST", "/v1/users", map[string]any{"email": email, "name": strings.Split(email, "@")[0], "role": "sales-rep"})
	}
	ann, ben, cid := login("ann@acme.test", a.Base), login("ben@acme.test", a.Base), login("cid@acme.test", a.Base)
	annOnB := ann
	annOnB.Base = b.Base

	team := func(name string) string {
		t.Helper()
		return admin.Must(201, "POST", "/v1/teams", map[string]any{"name": name}).Object(t)["id"].(string)
	}
	members := func(team string, ms ...map[string]any) {
		t.Helper()
		admin.Must(200, "PUT", "/v1/teams/"+team+"/members", map[string]any{"members": ms})
	}
	member := func(u harness.Client, primary bool) map[string]any {
		return map[string]any{"user_id": u.ID, "primary": primary}
	}
	sales, support := team("Sales"), team("Support")
	members(sales, member(ann, false), member(cid, false))
	members(support, member(ben, false), member(cid, true)) // cid's primary team: support

	// Settings naming an unknown role are refused, and nothing is saved.
	if r := admin.Must(400, "PUT", "/v1/plugins/teams/settings", map[string]any{"cross_team_roles": []string{"admin", "regional-lead"}}); !strings.Contains(string(r.Body), "cross_team_roles[1]") {
		t.Fatalf("settings with an unknown role: %s", r.Body)
	}
	if saved := admin.Must(200, "GET", "/v1/plugins/teams/settings", nil).Body; strings.Contains(string(saved), "regional-lead") {
		t.Fatalf("refused settings were saved: %s", saved)
	}
	admin.Must(200, "POST", "/v1/plugins/teams/activate", nil)

	create := func(u harness.Client, typ, name string, extra map[string]any) map[string]any {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}}
		for k, v := range extra {
			body[k] = v
		}
		return u.Must(201, "POST", "/v1/records/"+typ, body).Object(t)
	}
	annLead := create(ann, "lead", "Acme widgets", map[string]any{"owner_id": ann.ID})
	benLead := create(ben, "lead", "Acme support contract", map[string]any{"owner_id": ben.ID})
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
	missing := ann.Must(404, "GET", "/v1/records/lead/01J0000000000000000000000Z", nil).Body

	t.Run("TeamsDoNotSeeEachOther", func(t *testing.T) {
		sameSet(t, "ann's list", ann.Must(200, "GET", "/v1/records/lead", nil).IDs(t), salesLeads)
		sameSet(t, "ben's list", ben.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{id(benLead), id(cidLead), id(unteamed)})
		sameSet(t, "ann's search", ann.Must(200, "GET", "/v1/records/lead?q=Acme", nil).IDs(t), salesLeads)
		sameSet(t, "ann's editable", ann.Must(200, "GET", "/v1/records/lead?can=edit", nil).IDs(t), salesLeads)
		if n := ann.Must(200, "GET", "/v1/records/lead:count?q=Acme", nil).Object(t)["count"]; n != float64(2) {
			t.Fatalf("ann's count: %v", n)
		}
		for _, other := range []string{id(benLead), id(cidLead)} {
			if body := ann.Must(404, "GET", "/v1/records/lead/"+other, nil).Body; string(body) != string(missing) {
				t.Fatalf("another team's lead answers %s, a missing one %s", body, missing)
			}
			ann.Must(404, "PATCH", "/v1/records/lead/"+other, map[string]any{"data": map[string]any{"stage": "mine"}})
		}
		sameSet(t, "related", ann.Must(200, "GET", "/v1/records/account/"+id(account)+"/related", nil).IDs(t), []string{id(salesCall)})
		ann.Must(404, "GET", "/v1/records/activity/"+id(supportCall), nil)
		results := service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
			map[string]any{"user_id": ann.ID, "action": "view", "type": "lead", "id": id(annLead)},
			map[string]any{"user_id": ann.ID, "action": "view", "type": "lead", "id": id(benLead)},
			map[string]any{"user_id": ben.ID, "action": "edit", "type": "lead", "id": id(annLead)},
		}}).Object(t)["results"].([]any)
		if results[0].(map[string]any)["allowed"] != true || results[1].(map[string]any)["allowed"] != false || results[2].(map[string]any)["allowed"] != false {
			t.Fatalf("decision API: %v", results)
		}
		// The team API counts only what the caller may see, in their teams.
		counts := ann.Must(200, "GET", "/v1/plugins/teams/api/counts?type=lead", nil)
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
		for _, u := range []harness.Client{ann, ben, cid} {
			sameSet(t, "filter of "+u.ID, s.filtered(u, "lead"), u.Must(200, "GET", "/v1/records/lead", nil).IDs(t))
		}
	})
	t.Run("AMemberOfBothSeesBoth", func(t *testing.T) {
		sameSet(t, "cid's list", cid.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{id(annLead), id(benLead), id(cidLead), id(unteamed)})
		cid.Must(200, "GET", "/v1/records/activity/"+id(supportCall), nil)
	})
	t.Run("AnAdminSeesAll", func(t *testing.T) {
		sameSet(t, "the admin's list", admin.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{id(annLead), id(benLead), id(cidLead), id(unteamed)})
		body := string(admin.Must(200, "GET", "/v1/plugins/teams/api/counts", nil).Body)
		if !strings.Contains(body, sales) || !strings.Contains(body, support) {
			t.Fatalf("the admin's counts: %s", body)
		}
	})
	t.Run("CreationMovesAndAssignment", func(t *testing.T) {
		before := admin.Must(200, "GET", "/v1/records/lead:count", nil).Object(t)["count"]
		if r := ann.Must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Sneak"}, "team_id": support}); r.ErrorCode() != "team_mismatch" {
			t.Fatalf("a lead created in another team: %s", r.Body)
		}
		if r := ann.Must(403, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Gift"}, "owner_id": ben.ID}); r.ErrorCode() != "team_mismatch" {
			t.Fatalf("a new lead given to another team's member: %s", r.Body)
		}
		if after := admin.Must(200, "GET", "/v1/records/lead:count", nil).Object(t)["count"]; after != before {
			t.Fatalf("refused creations stored leads: %v, %v before", after, before)
		}
		if r := ann.Must(403, "PATCH", "/v1/records/lead/"+id(annLead), map[string]any{"team_id": support}); r.ErrorCode() != "team_move_not_allowed" {
			t.Fatalf("a member moved a lead out of the team: %s", r.Body)
		}
		if r := ann.Must(403, "PUT", "/v1/records/lead/"+id(annLead)+"/owner", map[string]any{"owner_id": ben.ID}); r.ErrorCode() != "team_mismatch" {
			t.Fatalf("a lead assigned outside its team: %s", r.Body)
		}
		ann.Must(200, "PUT", "/v1/records/lead/"+id(annLead)+"/owner", map[string]any{"owner_id": cid.ID}) // cid is in sales
		moved := admin.Must(200, "PATCH", "/v1/records/lead/"+id(cidLead), map[string]any{"team_id": sales}).Object(t)
		if moved["team_id"] != sales {
			t.Fatalf("the admin's move: %v", moved)
		}
		ann.Must(200, "GET", "/v1/records/lead/"+id(cidLead), nil)

		// With assign_moves_team, assigning outside the team moves the
		// record to the assignee's primary team, and the history says so.
		admin.Must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"assign_moves_team": true})
		lead := create(ann, "lead", "Hand over", nil)
		given := ann.Must(200, "PUT", "/v1/records/lead/"+id(lead)+"/owner", map[string]any{"owner_id": ben.ID}).Object(t)
		if given["team_id"] != support {
			t.Fatalf("the assignment did not move the lead to ben's team: %v", given)
		}
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(lead), nil)
		history := string(admin.Must(200, "GET", "/v1/records/lead/"+id(lead)+"/access", nil).Body)
		for _, want := range []string{`"by_plugin":true`, `"from":"` + sales, `"to":"` + support} {
			if !strings.Contains(history, want) {
				t.Fatalf("the move is not in the history (%s): %s", want, history)
			}
		}
		// With unteamed records for admins only, a member's new record
		// gets the member's team before its assignment is decided.
		admin.Must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"unteamed_visible_to": "admins"})
		ownNew := create(ann, "lead", "Mine, in my team", map[string]any{"owner_id": ann.ID})
		if ownNew["team_id"] != sales {
			t.Fatalf("a member's assigned new lead: %v", ownNew)
		}
		ann.Must(404, "GET", "/v1/records/lead/"+id(unteamed), nil)
		admin.Must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{})
		admin.Must(204, "DELETE", "/v1/records/lead/"+id(ownNew), nil)
	})
	t.Run("BulkMoves", func(t *testing.T) {
		move := "/v1/plugins/teams/api/records/lead/move"
		c.Must("install", "create", "globex")
		c.Must("user", "create", "--install", "globex", "--email", "mallory@globex.test", "--role", "admin")
		mallory := c.Login(t, a.Base, "globex", "mallory@globex.test")
		foreign := mallory.Must(201, "POST", "/v1/teams", map[string]any{"name": "Globex sales"}).Object(t)["id"].(string)
		all := func() map[string]any {
			leads := map[string]any{}
			for _, id := range admin.Must(200, "GET", "/v1/records/lead", nil).IDs(t) {
				leads[id] = admin.Must(200, "GET", "/v1/records/lead/"+id, nil).Object(t)["team_id"]
			}
			return leads
		}
		before := all()
		for _, bad := range []struct {
			who    harness.Client
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
			if r := bad.who.Must(bad.status, "POST", move, bad.body); r.ErrorCode() != bad.code {
				t.Fatalf("move %v: %s, want %s", bad.body, r.Body, bad.code)
			}
		}
		// An administrator without a cross-team role may not move records
		// out of a team: the plugin's own write hook refuses, with its code.
		admin.Must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{"cross_team_roles": []string{}})
		if r := admin.Must(403, "POST", move, map[string]any{"from": sales, "to": support}); r.ErrorCode() != "team_move_not_allowed" {
			t.Fatalf("a move out of a team by an admin without a cross-team role: %s", r.Body)
		}
		admin.Must(200, "PUT", "/v1/plugins/teams/settings", map[string]any{})
		if after := all(); !mapsEqual(after, before) {
			t.Fatalf("a refused move changed teams: %v, was %v", after, before)
		}
		annOnB.Must(200, "GET", "/v1/records/lead/"+id(annLead), nil) // warm on B
		r := admin.Must(200, "POST", move, map[string]any{"from": sales, "to": support}).Object(t)
		if r["moved"] != float64(2) { // ann's and cid's leads
			t.Fatalf("bulk move: %v", r)
		}
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(annLead), nil)
		ben.Must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
		admin.Must(200, "POST", move, map[string]any{"ids": []string{id(annLead), id(cidLead)}, "to": sales})
		annOnB.Must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
	})
	t.Run("MembershipChangesHoldAtOnceOnTheOtherReplica", func(t *testing.T) {
		annOnB.Must(200, "GET", "/v1/records/lead/"+id(annLead), nil) // warm on B
		members(sales, member(cid, false))
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(annLead), nil)
		if slices.Contains(annOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t), id(annLead)) {
			t.Fatal("ann still lists her old team's lead")
		}
		members(sales, member(ann, false), member(cid, false))
		annOnB.Must(200, "GET", "/v1/records/lead/"+id(annLead), nil)
	})
	t.Run("WithStrictOwnershipBothConstraintsHold", func(t *testing.T) {
		admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
			"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own", "delete": "own"}}}})
		admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
		defer admin.Must(200, "POST", "/v1/plugins/strict-ownership/deactivate", nil)
		own := create(ann, "lead", "Ann's own", map[string]any{"owner_id": ann.ID}) // in sales
		// Assigned to ann in her team, then moved by the admin: ann's, in
		// a team she is not in.
		elsewhere := create(admin, "lead", "Ann's, in support", map[string]any{"owner_id": ann.ID, "team_id": sales})
		admin.Must(200, "PATCH", "/v1/records/lead/"+id(elsewhere), map[string]any{"team_id": support})
		// In ann's team, not hers: strict-ownership hides it. Hers, not in
		// her team: teams hides it. Hers in her team: shown.
		sameSet(t, "ann's list under both", annOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{id(own)})
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(elsewhere), nil)
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(cidLead), nil)
		sameSet(t, "cid's list under both", cid.Must(200, "GET", "/v1/records/lead", nil).IDs(t), []string{id(annLead), id(cidLead)})
	})
	t.Run("DeactivationRestoresTheBase", func(t *testing.T) {
		admin.Must(200, "POST", "/v1/plugins/teams/deactivate", nil)
		annOnB.Must(200, "GET", "/v1/records/lead/"+id(benLead), nil)
		sameSet(t, "ann's leads without the plugin", ann.Must(200, "GET", "/v1/records/lead", nil).IDs(t), admin.Must(200, "GET", "/v1/records/lead", nil).IDs(t))
		admin.Must(200, "POST", "/v1/plugins/teams/activate", nil)
		annOnB.Must(404, "GET", "/v1/records/lead/"+id(benLead), nil)
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
