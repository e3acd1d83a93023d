package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func serviceClient(t *testing.T, f fixture, db *store.DB, slug string) client {
	t.Helper()
	svc, err := service.New(db)
	if err != nil {
		t.Fatal(err)
	}
	in, err := svc.InstallBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := svc.CreateServiceToken(context.Background(), in, "test")
	if err != nil {
		t.Fatal(err)
	}
	return client{t: t, h: f.h, token: tok}
}

type checkResults struct {
	Results []struct {
		Allowed bool
		Reason  *struct{ Text string }
	}
}

func TestDecisionAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		app := serviceClient(t, f, db, "acme")
		lead := f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "L"}, "owner_id": f.alice.userID}).json(t)
		id := lead["id"].(string)
		check := func(user, action string) map[string]any {
			return map[string]any{"user_id": user, "action": action, "type": "lead", "id": id}
		}

		t.Run("ServiceTokenAsksAboutAnyone", func(t *testing.T) {
			r := app.do("POST", "/v1/authz/check", map[string]any{"explain": true, "checks": []any{
				check(f.alice.userID, "edit"), check(f.bob.userID, "edit"), check(f.bob.userID, "view"), check(f.admin.userID, "delete"),
				map[string]any{"user_id": f.bob.userID, "action": "view", "type": "lead", "id": crm.NewID()},
			}})
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var res checkResults
			json.Unmarshal(r.body, &res)
			got := fmt.Sprint(res.Results[0].Allowed, res.Results[1].Allowed, res.Results[2].Allowed, res.Results[3].Allowed, res.Results[4].Allowed)
			if got != "true false true true false" {
				t.Fatalf("got %s: %s", got, r.body)
			}
			if res.Results[1].Reason == nil || res.Results[1].Reason.Text == "" {
				t.Fatalf("no explanation: %s", r.body)
			}
		})
		t.Run("AgreesWithTheRecordsAPI", func(t *testing.T) {
			for _, c := range []client{f.alice, f.bob, f.admin} {
				r := app.do("POST", "/v1/authz/check", map[string]any{"checks": []any{check(c.userID, "edit")}})
				var res checkResults
				json.Unmarshal(r.body, &res)
				patch := c.do("PATCH", "/v1/records/lead/"+id, map[string]any{"data": map[string]any{"touched": c.userID}})
				if res.Results[0].Allowed != (patch.status == http.StatusOK) {
					t.Fatalf("check says %v, PATCH answers %d", res.Results[0].Allowed, patch.status)
				}
			}
		})
		t.Run("UserTokenAsksOnlyAboutItself", func(t *testing.T) {
			r := f.bob.do("POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"action": "edit", "type": "lead", "id": id}}})
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"allowed":false`) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			r = f.bob.do("POST", "/v1/authz/check", map[string]any{"checks": []any{check(f.alice.userID, "edit")}})
			if r.status != http.StatusForbidden || r.errorCode(t) != "not_your_user" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
		t.Run("ServiceTokenIsOnlyForAuthz", func(t *testing.T) {
			if r := app.do("GET", "/v1/records/lead", nil); r.status != http.StatusForbidden || r.errorCode(t) != "service_token" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
		t.Run("OtherInstall", func(t *testing.T) {
			other := serviceClient(t, f, db, "globex")
			r := other.do("POST", "/v1/authz/check", map[string]any{"checks": []any{check(f.alice.userID, "view")}})
			if r.status != http.StatusBadRequest || r.errorCode(t) != "unknown_user" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			r = other.do("POST", "/v1/authz/check", map[string]any{"checks": []any{check(f.mallory.userID, "view")}})
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"allowed":false`) {
				t.Fatalf("a record of acme is visible to globex: %d %s", r.status, r.body)
			}
		})
		t.Run("BadInput", func(t *testing.T) {
			many := make([]any, service.MaxChecks+1)
			for i := range many {
				many[i] = check(f.alice.userID, "view")
			}
			for _, tc := range []struct {
				name   string
				body   any
				status int
				code   string
			}{
				{"TooMany", map[string]any{"checks": many}, 400, "too_many_checks"},
				{"None", map[string]any{"checks": []any{}}, 400, "no_checks"},
				{"UnknownUser", map[string]any{"checks": []any{check(crm.NewID(), "view")}}, 400, "unknown_user"},
				{"UnknownAction", map[string]any{"checks": []any{check(f.alice.userID, "fly")}}, 400, "invalid_action"},
				{"UnknownType", map[string]any{"checks": []any{map[string]any{"user_id": f.alice.userID, "action": "view", "type": "deal", "id": id}}}, 400, "invalid_record_type"},
				{"BadID", map[string]any{"checks": []any{map[string]any{"user_id": f.alice.userID, "action": "view", "type": "lead", "id": "x"}}}, 400, "invalid_id"},
				{"NoUserWithServiceToken", map[string]any{"checks": []any{map[string]any{"action": "view", "type": "lead", "id": id}}}, 400, "invalid_user"},
				{"Malformed", `{"checks":[`, 400, "invalid_json"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := app.do("POST", "/v1/authz/check", tc.body)
					if r.status != tc.status || r.errorCode(t) != tc.code {
						t.Fatalf("got %d %s", r.status, r.body)
					}
				})
			}
		})
		t.Run("Filter", func(t *testing.T) {
			open := f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "open"}}).json(t)
			r := app.do("POST", "/v1/authz/filter", map[string]any{"user_id": f.bob.userID, "action": "edit", "type": "lead"})
			var out struct {
				Kind      string
				Condition map[string]any
				SQL       struct {
					Where string
					Args  []any
				}
			}
			if err := json.Unmarshal(r.body, &out); err != nil || r.status != http.StatusOK || out.Kind != "conditional" || out.SQL.Where == "" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			ctx := context.Background()
			acme, _ := db.InstallBySlug(ctx, "acme")
			recs, err := db.ListRecords(ctx, store.RecordQuery{InstallID: acme.ID, Type: crm.TypeLead, Limit: 100, Where: []store.Predicate{{SQL: out.SQL.Where, Args: out.SQL.Args}}})
			if err != nil {
				t.Fatalf("the filter's SQL does not run: %v", err)
			}
			if len(recs) != 1 || recs[0].ID != open["id"] {
				t.Fatalf("bob may edit %d leads by the filter, want just the open one", len(recs))
			}
			r = app.do("POST", "/v1/authz/filter", map[string]any{"user_id": f.bob.userID, "action": "view", "type": "lead"})
			if !strings.Contains(string(r.body), `"kind":"all"`) {
				t.Fatalf("view filter: %s", r.body)
			}
			r = f.bob.do("POST", "/v1/authz/filter", map[string]any{"user_id": f.alice.userID, "action": "view", "type": "lead"})
			if r.status != http.StatusForbidden {
				t.Fatalf("user token filter about another user: %d", r.status)
			}
		})
	})
}
