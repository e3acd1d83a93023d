package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestOwnershipChanges walks, as a CRM's users would, through two replicas
// of the host sharing MySQL and Redis with strict-ownership and teams
// active, the ways a record changes hands: a manager's bulk reassignment
// of a rep's contacts moves exactly what the manager's Assign To would
// move, and names what it refuses; a share's access is edited in place,
// and a second share for the same person changes the first (also when
// sent at once from both replicas); an assignment rule that runs on
// update gives a lead an owner when its country changes, and leaves an
// owner given by hand alone unless the rule overrides it.
func TestOwnershipChanges(t *testing.T) {
	s := startAcme(t, "strict-ownership", "teams")
	a, b, login := s.a, s.b, s.login
	admin := login("admin@acme.test", a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	newUser := func(email, role, manager string) harness.Client {
		t.Helper()
		body := map[string]any{"email": email, "name": strings.Split(email, "@")[0], "role": role}
		if manager != "" {
			body["manager_id"] = manager
		}
		admin.Must(201, "POST", "/v1/users", body)
		return login(email, a.Base)
	}
	carol := newUser("carol@acme.test", "manager", "")
	alice := newUser("alice@acme.test", "sales-rep", carol.ID)
	bob := newUser("bob@acme.test", "sales-rep", carol.ID)
	bobOnB := bob
	bobOnB.Base = b.Base

	// East is the sales floor; North, a region bob does not cover; West,
	// alice's side project, which carol does not manage.
	team := func(name string, members ...map[string]any) string {
		t.Helper()
		id := admin.Must(201, "POST", "/v1/teams", map[string]any{"name": name}).Object(t)["id"].(string)
		admin.Must(200, "PUT", "/v1/teams/"+id+"/members", map[string]any{"members": members})
		return id
	}
	member := func(u harness.Client, primary bool) map[string]any {
		return map[string]any{"user_id": u.ID, "primary": primary}
	}
	east := team("East", member(carol, true), member(alice, true), member(bob, true))
	north := team("North", member(carol, false), member(alice, false))
	west := team("West", member(alice, false))
	admin.Must(200, "POST", "/v1/plugins/teams/activate", nil)

	// Bad values of the rules' new keys are refused with the key named.
	for body, want := range map[string]string{
		`{"assignment_rules":[{"type":"lead","on":[],"assign_to":{"user":"` + bob.ID + `"}}]}`:         `assignment_rules[0].on: must be a list of \"create\" or \"update\"`,
		`{"assignment_rules":[{"type":"lead","on":["delete"],"assign_to":{"user":"` + bob.ID + `"}}]}`: `assignment_rules[0].on[0]: must be \"create\" or \"update\"`,
		`{"assignment_rules":[{"type":"lead","override":1,"assign_to":{"user":"` + bob.ID + `"}}]}`:    "assignment_rules[0].override: must be true or false",
	} {
		var raw map[string]any
		json.Unmarshal([]byte(body), &raw)
		if r := admin.Must(400, "PUT", "/v1/plugins/strict-ownership/settings", raw); r.ErrorCode() != "invalid_settings" || !strings.Contains(string(r.Body), want) {
			t.Errorf("settings %s: %s, want a message saying %s", body, r.Body, want)
		}
	}
	own := map[string]any{"view": "own", "edit": "own", "delete": "own"}
	rule := func(name, country string, on []string, override bool, to string) map[string]any {
		return map[string]any{"name": name, "type": "lead", "on": on, "override": override,
			"match": []any{map[string]any{"field": "country", "op": "equals", "value": country}}, "assign_to": map[string]any{"user": to}}
	}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{
		"roles": map[string]any{
			"sales-rep": map[string]any{"lead": own, "contact": own},
			"manager":   map[string]any{"contact": map[string]any{"view": "reports", "edit": "reports"}},
		},
		"assignment_rules": []any{
			rule("germany", "DE", []string{"create", "update"}, false, bob.ID),
			rule("france", "FR", []string{"update"}, true, carol.ID),
		},
	})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	create := func(u harness.Client, typ string, data, extra map[string]any) map[string]any {
		t.Helper()
		body := map[string]any{"data": data}
		for k, v := range extra {
			body[k] = v
		}
		return u.Must(201, "POST", "/v1/records/"+typ, body).Object(t)
	}
	ownerOf := func(typ, id string) any {
		t.Helper()
		return admin.Must(200, "GET", "/v1/records/"+typ+"/"+id, nil).Object(t)["owner_id"]
	}
	history := func(typ, id string) string {
		t.Helper()
		return string(admin.Must(200, "GET", "/v1/records/"+typ+"/"+id+"/access", nil).Body)
	}

	t.Run("AManagersBulkReassignRefusesWhatAssignToRefuses", func(t *testing.T) {
		contact := func(name, team string) string {
			return create(admin, "contact", map[string]any{"name": name}, map[string]any{"owner_id": alice.ID, "team_id": team})["id"].(string)
		}
		c1, c2, c3, c4 := contact("Ada", east), contact("Grace", east), contact("Hedy", north), contact("Joan", west)
		carol.Must(404, "GET", "/v1/records/contact/"+c4, nil) // West is not hers to see
		type refusal struct{ ID, Code, Message string }
		reassign := func() (int, []refusal) {
			t.Helper()
			var out struct {
				Reassigned int
				Refused    []refusal
			}
			r := carol.Must(200, "POST", "/v1/records/contact:reassign", map[string]any{"from": alice.ID, "to": bob.ID})
			if err := json.Unmarshal(r.Body, &out); err != nil || out.Refused == nil {
				t.Fatalf("reassign: %s", r.Body)
			}
			slices.SortFunc(out.Refused, func(x, y refusal) int { return strings.Compare(x.ID, y.ID) })
			return out.Reassigned, out.Refused
		}
		// Assign To's answer to carol for each of the records.
		assignTo := func(ids ...string) []refusal {
			t.Helper()
			var out []refusal
			for _, id := range ids {
				r := carol.Do("PUT", "/v1/records/contact/"+id+"/owner", map[string]any{"owner_id": bob.ID})
				if r.Status != http.StatusForbidden {
					t.Fatalf("carol's Assign To of %s: %d %s", id, r.Status, r.Body)
				}
				msg, _ := r.Object(t)["error"].(map[string]any)["message"].(string)
				out = append(out, refusal{id, r.ErrorCode(), msg})
			}
			slices.SortFunc(out, func(x, y refusal) int { return strings.Compare(x.ID, y.ID) })
			return out
		}

		// The install's default: owners assign. Carol may reassign in
		// bulk, but alice's contacts are not hers to give away one by
		// one, so none moves; the hidden one is not named.
		want := assignTo(c1, c2, c3)
		for _, w := range want {
			if w.Code != "not_owner" {
				t.Fatalf("carol's Assign To: %+v", want)
			}
		}
		if n, refused := reassign(); n != 0 || !slices.Equal(refused, want) {
			t.Fatalf("bulk while owners assign: %d moved, refused %+v; want none moved, refused %+v", n, refused, want)
		}
		for _, id := range []string{c1, c2, c3, c4} {
			if owner := ownerOf("contact", id); owner != alice.ID {
				t.Fatalf("%s is %v's after a refused reassignment", id, owner)
			}
		}

		// Everyone may assign now: what is left is the teams' rule, bob is
		// not in North.
		admin.Must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "everyone"})
		want = assignTo(c3)
		if want[0].Code != "team_mismatch" {
			t.Fatalf("carol's Assign To of the North contact: %+v", want)
		}
		carol.Must(404, "PUT", "/v1/records/contact/"+c4+"/owner", map[string]any{"owner_id": bob.ID})
		if n, refused := reassign(); n != 2 || !slices.Equal(refused, want) {
			t.Fatalf("bulk while everyone assigns: %d moved, refused %+v; want 2 moved, refused %+v", n, refused, want)
		}
		for id, want := range map[string]string{c1: bob.ID, c2: bob.ID, c3: alice.ID, c4: alice.ID} {
			if owner := ownerOf("contact", id); owner != want {
				t.Errorf("%s is %v's, want %s's", id, owner, want)
			}
		}
		bobOnB.Must(200, "GET", "/v1/records/contact/"+c1, nil) // his at once, on the other replica
		alice.Must(404, "GET", "/v1/records/contact/"+c1, nil)
		if h := history("contact", c1); !strings.Contains(h, `"bulk":true`) || !strings.Contains(h, carol.ID) {
			t.Fatalf("c1's history: %s", h)
		}
		admin.Must(200, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
	})

	t.Run("AShareEditedInPlace", func(t *testing.T) {
		lead := create(alice, "lead", map[string]any{"name": "Shared deal"}, map[string]any{"owner_id": alice.ID})["id"].(string)
		shares := "/v1/plugins/strict-ownership/api/records/lead/" + lead + "/shares"
		bobOnB.Must(404, "GET", "/v1/records/lead/"+lead, nil)
		share := admin.Must(201, "POST", shares, map[string]any{"user_id": bob.ID, "access": "view"}).Object(t)
		bobOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil)
		bobOnB.Must(403, "PATCH", "/v1/records/lead/"+lead, map[string]any{"data": map[string]any{"stage": "bob's"}})

		// Edited in place: view becomes view+edit, and bob may edit.
		edited := carol.Must(200, "PATCH", shares+"/"+share["id"].(string), map[string]any{"access": "view+edit"}).Object(t)
		if edited["id"] != share["id"] || edited["access"] != "view+edit" || edited["user_id"] != bob.ID {
			t.Fatalf("edited share: %v", edited)
		}
		bobOnB.Must(200, "PATCH", "/v1/records/lead/"+lead, map[string]any{"data": map[string]any{"stage": "bob's"}})
		if r := carol.Must(400, "PATCH", shares+"/"+share["id"].(string), map[string]any{"access": "own"}); r.ErrorCode() != "invalid_share" {
			t.Fatalf("a bad access: %s", r.Body)
		}
		if r := carol.Must(404, "PATCH", shares+"/01J0000000000000000000000Z", map[string]any{"access": "view"}); r.ErrorCode() != "unknown_share" {
			t.Fatalf("an unknown share: %s", r.Body)
		}
		if r := bob.Must(403, "PATCH", shares+"/"+share["id"].(string), map[string]any{"access": "view+edit"}); r.ErrorCode() != "not_allowed" {
			t.Fatalf("a sales rep edited a share: %s", r.Body)
		}

		// A second POST for bob changes his share: back to view.
		again := admin.Must(200, "POST", shares, map[string]any{"user_id": bob.ID, "access": "view"}).Object(t)
		if again["id"] != share["id"] || again["access"] != "view" {
			t.Fatalf("second share: %v", again)
		}
		if items := admin.Must(200, "GET", shares, nil).Object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares after a second POST: %v", items)
		}
		bobOnB.Must(403, "PATCH", "/v1/records/lead/"+lead, map[string]any{"data": map[string]any{"stage": "again"}})
		if h := history("lead", lead); strings.Count(h, `"grant.update"`) != 2 || strings.Count(h, `"grant.create"`) != 1 {
			t.Fatalf("the lead's access history: %s", h)
		}

		// Sent at once, from both replicas, shares with one team make one.
		other := create(alice, "lead", map[string]any{"name": "Team deal"}, map[string]any{"owner_id": alice.ID})["id"].(string)
		otherShares := "/v1/plugins/strict-ownership/api/records/lead/" + other + "/shares"
		adminOnB := admin
		adminOnB.Base = b.Base
		statuses := make([]int, 8)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				c, access := admin, "view"
				if i%2 == 1 {
					c, access = adminOnB, "view+edit"
				}
				statuses[i] = c.Do("POST", otherShares, map[string]any{"team_id": east, "access": access}).Status
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		if want := []int{200, 200, 200, 200, 200, 200, 200, 201}; !slices.Equal(statuses, want) {
			t.Fatalf("concurrent shares answered %v, want one 201", statuses)
		}
		if items := admin.Must(200, "GET", otherShares, nil).Object(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("shares after concurrent POSTs: %v", items)
		}
	})

	t.Run("AnAssignmentRuleFiresOnUpdate", func(t *testing.T) {
		// A rule on create still fires on create.
		if lead := create(alice, "lead", map[string]any{"name": "Berlin", "country": "DE"}, nil); lead["owner_id"] != bob.ID {
			t.Fatalf("a new German lead: %v", lead)
		}
		// An unassigned lead moves to Germany: the rule gives it to bob.
		lead := create(alice, "lead", map[string]any{"name": "Vienna", "country": "AT"}, nil)
		id := lead["id"].(string)
		if lead["owner_id"] != nil {
			t.Fatalf("an Austrian lead got an owner: %v", lead)
		}
		changed := alice.Must(200, "PATCH", "/v1/records/lead/"+id, map[string]any{"data": map[string]any{"country": "DE"}}).Object(t)
		if changed["owner_id"] != bob.ID {
			t.Fatalf("after the move to Germany: %v", changed)
		}
		bobOnB.Must(200, "GET", "/v1/records/lead/"+id, nil)
		alice.Must(404, "GET", "/v1/records/lead/"+id, nil) // bob's now
		harness.WaitFor(t, "the rule that fired on update in the record's history", 10*time.Second, func() bool {
			h := history("lead", id)
			return strings.Contains(h, `"strict-ownership.assignment_rule.fired"`) && strings.Contains(h, `"on":"update"`)
		})

		// alice's own lead moves to Germany: an owner given by hand stays.
		mine := create(alice, "lead", map[string]any{"name": "Graz", "country": "AT"}, map[string]any{"owner_id": alice.ID})["id"].(string)
		if got := alice.Must(200, "PATCH", "/v1/records/lead/"+mine, map[string]any{"data": map[string]any{"country": "DE"}}).Object(t); got["owner_id"] != alice.ID {
			t.Fatalf("the rule overrode alice's own lead: %v", got)
		}
		// ... unless the rule overrides it: France goes to carol.
		if got := alice.Must(200, "PATCH", "/v1/records/lead/"+mine, map[string]any{"data": map[string]any{"country": "FR"}}).Object(t); got["owner_id"] != carol.ID {
			t.Fatalf("the overriding rule left the lead with %v", got["owner_id"])
		}
		alice.Must(404, "GET", "/v1/records/lead/"+mine, nil)
		harness.WaitFor(t, "the overriding rule in the record's history", 10*time.Second, func() bool {
			return strings.Contains(history("lead", mine), `"name":"france"`)
		})
		if h := history("lead", mine); strings.Contains(h, `"name":"germany"`) {
			t.Fatalf("a rule that did not fire is in the history: %s", h)
		}
		// Assign To itself is no change of data: the rule stays out of it.
		admin.Must(200, "PUT", "/v1/records/lead/"+id+"/owner", map[string]any{"owner_id": nil})
		if owner := ownerOf("lead", id); owner != nil {
			t.Fatalf("unassigning a German lead gave it to %v", owner)
		}
	})
}
