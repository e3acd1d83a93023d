package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestTeamRolesAndChildren walks two stories of plugins/strict-ownership
// on two replicas sharing MySQL and Redis, as a support desk would. Two
// reps share the role "support" with the scope "role" on opportunities
// (their cases): each sees and edits the other's cases, a rep of another
// role does not. Then activities (tasks) follow their case: a rep sees
// the tasks a manager added under the rep's case, in its related records
// too, but not those under another rep's case; with "view+edit" the rep
// edits them too, and never deletes them by it.
//
// The users exist before the plugin is activated: the test does not lean
// on what a new user does to cached policies.
func TestTeamRolesAndChildren(t *testing.T) {
	s := startAcme(t, "strict-ownership")
	a, b, login := s.a, s.b, s.login
	admin := login("admin@acme.test", a.Base)
	for _, role := range []string{"support", "sales"} {
		admin.Must(201, "PUT", "/v1/roles/"+role, map[string]any{"description": role, "capabilities": []string{}})
	}
	for email, role := range map[string]string{
		"sam@acme.test": "support", "sue@acme.test": "support", "rex@acme.test": "sales", "mia@acme.test": "manager",
	} {
		admin.Must(201, "POST", "/v1/users", map[string]any{"email": email, "role": role})
	}
	sam, sue, rex, mia := login("sam@acme.test", a.Base), login("sue@acme.test", a.Base), login("rex@acme.test", a.Base), login("mia@acme.test", a.Base)
	samOnB := sam
	samOnB.Base = b.Base

	settingsWith := func(children string) map[string]any {
		team := map[string]any{
			"opportunity": map[string]any{"view": "role", "edit": "role", "delete": "own"},
			"activity":    map[string]any{"view": "own", "edit": "own", "delete": "own"},
		}
		return map[string]any{
			"roles":    map[string]any{"support": team, "sales": team},
			"children": map[string]any{"activity": children},
		}
	}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", settingsWith("view"))
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	create := func(u harness.Client, typ, name string, parent map[string]any) string {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}, "owner_id": u.ID}
		if parent != nil {
			body["parent"] = parent
		}
		return u.Must(201, "POST", "/v1/records/"+typ, body).ID(t)
	}
	samsCase := create(sam, "opportunity", "Printer on fire", nil)
	suesCase := create(sue, "opportunity", "Cannot log in", nil)
	rexsCase := create(rex, "opportunity", "Renewal quote", nil)
	missing := rex.Must(404, "GET", "/v1/records/opportunity/01J0000000000000000000000Z", nil).Body

	t.Run("RepsOfOneRoleShareTheirCases", func(t *testing.T) {
		for _, u := range []harness.Client{sam, sue, samOnB} {
			sameSet(t, "cases of "+u.ID, u.Must(200, "GET", "/v1/records/opportunity", nil).IDs(t), []string{samsCase, suesCase})
		}
		sam.Must(200, "GET", "/v1/records/opportunity/"+suesCase, nil)
		sue.Must(200, "PATCH", "/v1/records/opportunity/"+samsCase, map[string]any{"data": map[string]any{"status": "waiting on customer"}})
		samOnB.Must(200, "PATCH", "/v1/records/opportunity/"+suesCase, map[string]any{"data": map[string]any{"status": "escalated"}})
		// Deleting stays with the owner: delete is "own".
		sue.Must(403, "DELETE", "/v1/records/opportunity/"+samsCase, nil)
		sameSet(t, "the filter's SQL for sam", s.filtered(sam, "opportunity"), []string{samsCase, suesCase})
	})
	t.Run("AnotherRoleSeesNone", func(t *testing.T) {
		sameSet(t, "rex's cases", rex.Must(200, "GET", "/v1/records/opportunity", nil).IDs(t), []string{rexsCase})
		for _, id := range []string{samsCase, suesCase} {
			if body := rex.Must(404, "GET", "/v1/records/opportunity/"+id, nil).Body; string(body) != string(missing) {
				t.Fatalf("a case of support answers rex %s, a missing one %s", body, missing)
			}
			rex.Must(404, "PATCH", "/v1/records/opportunity/"+id, map[string]any{"data": map[string]any{"status": "mine"}})
		}
		sam.Must(404, "GET", "/v1/records/opportunity/"+rexsCase, nil)
	})

	// A manager adds tasks under sam's case and rex's.
	samsTask := create(mia, "activity", "Call the customer back", map[string]any{"type": "opportunity", "id": samsCase})
	rexsTask := create(mia, "activity", "Send the quote", map[string]any{"type": "opportunity", "id": rexsCase})

	t.Run("TasksFollowTheirCase", func(t *testing.T) {
		sam.Must(200, "GET", "/v1/records/activity/"+samsTask, nil)
		sameSet(t, "related of sam's case", sam.Must(200, "GET", "/v1/records/opportunity/"+samsCase+"/related", nil).IDs(t), []string{samsTask})
		// sue sees sam's case through the role, so its task too.
		sue.Must(200, "GET", "/v1/records/activity/"+samsTask, nil)
		sameSet(t, "sam's tasks", sam.Must(200, "GET", "/v1/records/activity", nil).IDs(t), []string{samsTask})
		sameSet(t, "the filter's SQL for sam's tasks", s.filtered(sam, "activity"), []string{samsTask})
		// A task under someone else's case stays hidden.
		if body := sam.Must(404, "GET", "/v1/records/activity/"+rexsTask, nil).Body; string(body) != string(missing) {
			t.Fatalf("rex's task answers sam %s, a missing record %s", body, missing)
		}
		rex.Must(404, "GET", "/v1/records/activity/"+samsTask, nil)
		sameSet(t, "rex's tasks", rex.Must(200, "GET", "/v1/records/activity", nil).IDs(t), []string{rexsTask})
		sameSet(t, "related of rex's case", rex.Must(200, "GET", "/v1/records/opportunity/"+rexsCase+"/related", nil).IDs(t), []string{rexsTask})
		// "view" gives no edit.
		sam.Must(403, "PATCH", "/v1/records/activity/"+samsTask, map[string]any{"data": map[string]any{"done": true}})
	})
	t.Run("ViewAndEdit", func(t *testing.T) {
		samOnB.Must(403, "PATCH", "/v1/records/activity/"+samsTask, map[string]any{"data": map[string]any{"done": true}}) // warm on B
		admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", settingsWith("view+edit"))
		done := samOnB.Must(200, "PATCH", "/v1/records/activity/"+samsTask, map[string]any{"data": map[string]any{"done": true}}).Object(t)
		if data, _ := done["data"].(map[string]any); data["done"] != true {
			t.Fatalf("the edit of the task: %v", done)
		}
		sam.Must(404, "PATCH", "/v1/records/activity/"+rexsTask, map[string]any{"data": map[string]any{"done": true}})
		sam.Must(403, "DELETE", "/v1/records/activity/"+samsTask, nil) // following the case never gives delete
		if ids := sam.Must(200, "GET", "/v1/records/activity?can=edit", nil).IDs(t); !slices.Equal(ids, []string{samsTask}) {
			t.Fatalf("sam's editable tasks: %v", ids)
		}
	})
	t.Run("SettingsAreChecked", func(t *testing.T) {
		saved := string(admin.Must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body)
		for _, c := range []struct {
			settings map[string]any
			want     string
		}{
			{map[string]any{"children": map[string]any{"lead": "view"}}, `children.lead: unknown key; a key here must be "activity", "contact" or "opportunity"`},
			{map[string]any{"children": map[string]any{"activity": "edit"}}, `children.activity: must be "view" or "view+edit"`},
			{map[string]any{"roles": map[string]any{"support": map[string]any{"lead": map[string]any{"edit": "reports", "delete": "role"}}}},
				`roles.support.lead.delete: must reach no further than edit's "reports", not "role"`},
		} {
			r := admin.Must(400, "PUT", "/v1/plugins/strict-ownership/settings", c.settings)
			msg, _ := r.Object(t)["error"].(map[string]any)["message"].(string)
			if r.ErrorCode() != "invalid_settings" || !strings.Contains(msg, c.want) {
				t.Errorf("settings %v: %s, want invalid_settings naming %s", c.settings, r.Body, c.want)
			}
		}
		if now := string(admin.Must(200, "GET", "/v1/plugins/strict-ownership/settings", nil).Body); now != saved {
			t.Fatalf("a refused change altered the settings: %s, was %s", now, saved)
		}
	})
}
