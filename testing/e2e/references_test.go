package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestStrictOwnershipHidesReferences runs plugins/strict-ownership with
// sales reps who see their own leads and every activity. Alice has a call
// about bob's lead and one about her own: wherever the host names a
// record's parent (gets on both replicas, lists, searches, related
// records, the answers of writes, the access history) bob's lead is null
// and hers is named; the decision API's explanation names neither. A lead
// she may not see and an id that names no record answer alike on every
// route that takes a record (status, headers, body).
func TestStrictOwnershipHidesReferences(t *testing.T) {
	s := startAcme(t, "strict-ownership")
	admin := s.login("admin@acme.test", s.a.Base)
	admin.Must(201, "PUT", "/v1/roles/sales-rep", map[string]any{"description": "Sales representative", "capabilities": []string{}})
	admin.Must(201, "POST", "/v1/users", map[string]any{"email": "carol@acme.test", "role": "manager"})
	carol := s.login("carol@acme.test", s.a.Base)
	for _, email := range []string{"alice@acme.test", "bob@acme.test"} {
		body := map[string]any{"email": email, "role": "sales-rep"}
		if email == "alice@acme.test" {
			body["manager_id"] = carol.ID
		}
		admin.Must(201, "POST", "/v1/users", body)
	}
	alice, bob := s.login("alice@acme.test", s.a.Base), s.login("bob@acme.test", s.a.Base)
	aliceOnB := alice
	aliceOnB.Base = s.b.Base
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{
		"sales-rep": map[string]any{"lead": map[string]any{"view": "own", "edit": "own"}, "activity": map[string]any{"view": "all", "edit": "own"}},
		"manager":   map[string]any{"lead": map[string]any{"view": "reports"}},
	}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)

	create := func(u harness.Client, typ, name, owner string, parent map[string]any) map[string]any {
		t.Helper()
		body := map[string]any{"data": map[string]any{"name": name}, "owner_id": owner}
		if parent != nil {
			body["parent"] = parent
		}
		return u.Must(201, "POST", "/v1/records/"+typ, body).Object(t)
	}
	ref := func(typ, id string) map[string]any { return map[string]any{"type": typ, "id": id} }
	bobs := create(admin, "lead", "Bob's lead", bob.ID, nil)["id"].(string)
	alices := create(alice, "lead", "Alice's lead", alice.ID, nil)["id"].(string)
	hiddenUnder := create(admin, "activity", "Call about bob's lead", alice.ID, ref("lead", bobs))["id"].(string)
	visibleUnder := create(alice, "activity", "Call about her lead", alice.ID, ref("lead", alices))["id"].(string)
	nestedRecord := create(alice, "activity", "Follow-up call", alice.ID, ref("activity", hiddenUnder))
	nested := nestedRecord["id"].(string)
	alice.Must(404, "GET", "/v1/records/lead/"+bobs, nil)

	// want is each activity's parent as alice may be told it.
	want := map[string]map[string]any{hiddenUnder: nil, visibleUnder: ref("lead", alices), nested: ref("activity", hiddenUnder)}
	parentIs := func(where string, record any) {
		t.Helper()
		r := record.(map[string]any)
		w, ok := want[r["id"].(string)]
		if !ok {
			return
		}
		if got, _ := r["parent"].(map[string]any); !maps.Equal(got, w) || (w == nil && r["parent"] != nil) {
			wantText := "null"
			if w != nil {
				wantText = fmt.Sprint(w)
			}
			t.Errorf("%s: %s's parent is %v, want %s", where, r["id"], r["parent"], wantText)
		}
	}
	items := func(r harness.Reply) []any { return r.Object(t)["items"].([]any) }

	t.Run("CreateAnswers", func(t *testing.T) {
		parentIs("create", nestedRecord)
	})
	t.Run("Gets", func(t *testing.T) {
		for _, u := range []harness.Client{alice, aliceOnB, alice} { // replica A cold and warm, replica B
			for id := range want {
				parentIs("get on "+u.Base, u.Must(200, "GET", "/v1/records/activity/"+id, nil).Object(t))
			}
		}
	})
	t.Run("ListsAndSearches", func(t *testing.T) {
		for _, path := range []string{"/v1/records/activity", "/v1/records/activity?q=call", "/v1/records/activity?owner=me"} {
			list := items(alice.Must(200, "GET", path, nil))
			if len(list) != 3 {
				t.Fatalf("%s lists %d activities, want 3", path, len(list))
			}
			for _, r := range list {
				parentIs(path, r)
			}
		}
	})
	t.Run("Related", func(t *testing.T) {
		rel := alice.Must(200, "GET", "/v1/records/activity/"+nested+"/related", nil).Object(t)
		parentIs("related's parent", rel["parent"])
		rel = alice.Must(200, "GET", "/v1/records/activity/"+hiddenUnder+"/related", nil).Object(t)
		if rel["parent"] != nil {
			t.Errorf("related of the call about bob's lead shows its parent: %v", rel["parent"])
		}
		for _, r := range rel["items"].([]any) {
			parentIs("related's children", r)
		}
		for _, r := range items(alice.Must(200, "GET", "/v1/records/lead/"+alices+"/related", nil)) {
			parentIs("related's children", r)
		}
	})
	t.Run("WritesAnswer", func(t *testing.T) {
		parentIs("patch", alice.Must(200, "PATCH", "/v1/records/activity/"+hiddenUnder, map[string]any{"data": map[string]any{"stage": "done"}}).Object(t))
		parentIs("patch", alice.Must(200, "PATCH", "/v1/records/activity/"+visibleUnder, map[string]any{"data": map[string]any{"stage": "done"}}).Object(t))
		parentIs("assign", alice.Must(200, "PUT", "/v1/records/activity/"+hiddenUnder+"/owner", map[string]any{"owner_id": alice.ID}).Object(t))
	})
	t.Run("AManagerIsToldTheReports", func(t *testing.T) {
		// Carol sees alice's leads (a report's), not bob's.
		if p := carol.Must(200, "GET", "/v1/records/activity/"+visibleUnder, nil).Object(t)["parent"]; p == nil {
			t.Error("carol is not told the parent she may see")
		}
		if p := carol.Must(200, "GET", "/v1/records/activity/"+hiddenUnder, nil).Object(t)["parent"]; p != nil {
			t.Errorf("carol is told the parent she may not see: %v", p)
		}
	})
	t.Run("Explain", func(t *testing.T) {
		r := s.service.Must(200, "POST", "/v1/authz/check", map[string]any{"explain": true, "checks": []any{
			map[string]any{"user_id": alice.ID, "action": "view", "type": "activity", "id": hiddenUnder},
			map[string]any{"user_id": alice.ID, "action": "edit", "type": "activity", "id": hiddenUnder},
		}})
		if !strings.Contains(string(r.Body), `"allowed":true`) || strings.Contains(string(r.Body), bobs) {
			t.Errorf("explanation: %s", r.Body)
		}
	})
	t.Run("HiddenAnswersAsMissing", func(t *testing.T) {
		missing := crm.NewID()
		for _, req := range []struct{ method, path string }{
			{"GET", "/v1/records/lead/%s"},
			{"GET", "/v1/records/lead/%s/related"},
			{"GET", "/v1/records/lead/%s/access"},
			{"GET", "/v1/plugins/strict-ownership/api/records/lead/%s/shares"},
			{"PATCH", "/v1/records/lead/%s"},
			{"POST", "/v1/authz/check"},
		} {
			ask := func(u harness.Client, id string) harness.Reply {
				t.Helper()
				var body any
				switch req.method {
				case "PATCH":
					body = map[string]any{"data": map[string]any{"stage": "x"}}
				case "POST":
					body = map[string]any{"explain": true, "checks": []any{map[string]any{"action": "view", "type": "lead", "id": id}}}
				}
				return u.Do(req.method, strings.Replace(req.path, "%s", id, 1), body, "X-Request-ID", "probe")
			}
			for _, u := range []harness.Client{alice, aliceOnB, alice} {
				h, m := ask(u, bobs), ask(u, missing)
				if h.Status != m.Status || !bytes.Equal(h.Body, m.Body) || !sameHeaders(h.Header, m.Header) {
					t.Errorf("%s %s: bob's lead answers %d %v %s, a missing id %d %v %s", req.method, req.path, h.Status, h.Header, h.Body, m.Status, m.Header, m.Body)
				}
			}
		}
	})
	t.Run("AccessHistory", func(t *testing.T) {
		// Deleting bob's lead detaches the call; its history names the lead
		// only to who may see every lead.
		admin.Must(204, "DELETE", "/v1/records/lead/"+bobs, nil)
		detached := func(u harness.Client) any {
			t.Helper()
			for _, e := range u.Must(200, "GET", "/v1/records/activity/"+hiddenUnder+"/access", nil).Object(t)["history"].([]any) {
				if e := e.(map[string]any); e["action"] == "record.detach" {
					return e["detail"].(map[string]any)["parent"]
				}
			}
			t.Fatal("no detachment in the call's history")
			return nil
		}
		if p := detached(alice); p != nil {
			t.Errorf("alice's access history names the lead: %v", p)
		}
		if p, _ := detached(admin).(map[string]any); p["id"] != bobs {
			t.Errorf("the admin's access history names %v, want bob's lead", p)
		}
	})
}

// sameHeaders compares two answers' headers but for Date, which is the
// time of the answer.
func sameHeaders(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	return maps.EqualFunc(a, b, slices.Equal[[]string])
}
