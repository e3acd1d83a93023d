package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// userOf adds a user of a role to acme and returns a client with their
// token.
func (f fixture) userOf(t *testing.T, email, role string) client {
	t.Helper()
	ctx := context.Background()
	in, err := f.svc.InstallBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.AddUser(ctx, in, service.NewUser{Email: email, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.CreateToken(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}
	return client{t: t, h: f.h, token: tok, userID: u.ID}
}

// mayAdd is the may_add of GET /v1/me, joined by commas.
func (c client) mayAdd() string {
	c.t.Helper()
	var me struct {
		MayAdd []string `json:"may_add"`
	}
	r := c.do("GET", "/v1/me", nil)
	if r.status != http.StatusOK || json.Unmarshal(r.body, &me) != nil || me.MayAdd == nil {
		c.t.Fatalf("GET /v1/me: %d %s", r.status, r.body)
	}
	return strings.Join(me.MayAdd, ",")
}

func TestAddPermissionAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		app := serviceClient(t, f, db, "acme")

		t.Run("PutRoleTakesAdd", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				body string
				add  string // as GET shows it
			}{
				{"List", `{"add":["contact","lead","lead"]}`, `"add":["lead","contact"]`},
				{"Empty", `{"add":[]}`, `"add":[]`},
				{"Null", `{"add":null}`, `"add":null`},
				{"Absent", `{"description":"d"}`, `"add":null`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := f.admin.do("PUT", "/v1/roles/closer", tc.body)
					if r.status != http.StatusOK && r.status != http.StatusCreated || !strings.Contains(string(r.body), tc.add) {
						t.Fatalf("PUT: %d %s, want %s", r.status, r.body, tc.add)
					}
					if got := f.admin.do("GET", "/v1/roles/closer", nil); !strings.Contains(string(got.body), tc.add) {
						t.Fatalf("GET: %s, want %s", got.body, tc.add)
					}
				})
			}
			r := f.admin.do("PUT", "/v1/roles/closer", `{"add":["lead","invoice"]}`)
			if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_add" || !strings.Contains(string(r.body), `\"invoice\"`) {
				t.Fatalf("unknown type: %d %s", r.status, r.body)
			}
			if got := f.admin.do("GET", "/v1/roles/closer", nil); !strings.Contains(string(got.body), `"add":null`) {
				t.Fatalf("a refused PUT changed the role: %s", got.body)
			}
			list := f.admin.do("GET", "/v1/roles", nil)
			if !strings.Contains(string(list.body), `"name":"member","description":"Member","capabilities":[],"add":null`) {
				t.Fatalf("GET /v1/roles: %s", list.body)
			}
		})

		f.admin.do("PUT", "/v1/roles/lead-hunter", map[string]any{"add": []string{"lead"}})
		hunter := f.userOf(t, "hunter@acme.test", "lead-hunter")
		contacts := func() float64 {
			t.Helper()
			return f.admin.do("GET", "/v1/records/contact:count", nil).json(t)["count"].(float64)
		}

		t.Run("ACreateTheRoleMayNotMakeIs403", func(t *testing.T) {
			before := contacts()
			r := hunter.do("POST", "/v1/records/contact", map[string]any{"data": map[string]any{"name": "Wile E."}})
			if r.status != http.StatusForbidden || r.errorCode(t) != "add_not_allowed" || !strings.Contains(string(r.body), "your role may not add contact records") {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if after := contacts(); after != before {
				t.Fatalf("%v contacts after a refused create, %v before", after, before)
			}
			if r := hunter.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner"}}); r.status != http.StatusCreated {
				t.Fatalf("lead: %d %s", r.status, r.body)
			}
		})
		t.Run("MeSaysWhatTheUserMayAdd", func(t *testing.T) {
			if got := hunter.mayAdd(); got != "lead" {
				t.Fatalf("hunter may add %q", got)
			}
			if got := f.alice.mayAdd(); got != "lead,contact,account,opportunity,activity" {
				t.Fatalf("alice may add %q", got)
			}
			f.admin.do("PUT", "/v1/roles/lead-hunter", map[string]any{"add": []string{}})
			if got := hunter.mayAdd(); got != "" {
				t.Fatalf("after the role's change, hunter may add %q", got)
			}
			if role := hunter.do("GET", "/v1/me", nil); !strings.Contains(string(role.body), `"add":[]`) {
				t.Fatalf("me: %s", role.body)
			}
			f.admin.do("PUT", "/v1/roles/lead-hunter", map[string]any{"add": []string{"lead"}})
		})
		t.Run("CheckAsksAboutAdd", func(t *testing.T) {
			r := app.do("POST", "/v1/authz/check", map[string]any{"checks": []any{
				map[string]any{"user_id": hunter.userID, "action": "add", "type": "contact"},
				map[string]any{"user_id": hunter.userID, "action": "add", "type": "lead"},
				map[string]any{"user_id": f.alice.userID, "action": "add", "type": "contact"},
			}})
			var res checkResults
			json.Unmarshal(r.body, &res)
			if r.status != http.StatusOK || len(res.Results) != 3 || res.Results[0].Allowed || !res.Results[1].Allowed || !res.Results[2].Allowed {
				t.Fatalf("%d %s", r.status, r.body)
			}
			mine := hunter.do("POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"action": "add", "type": "contact"}}})
			if mine.status != http.StatusOK || !strings.Contains(string(mine.body), `"allowed":false`) {
				t.Fatalf("a user token asking about itself: %d %s", mine.status, mine.body)
			}
			withID := app.do("POST", "/v1/authz/check", map[string]any{"checks": []any{
				map[string]any{"user_id": hunter.userID, "action": "add", "type": "lead", "id": "01J0000000000000000000000Z"}}})
			if withID.status != http.StatusBadRequest || withID.errorCode(t) != "invalid_id" || !strings.Contains(string(withID.body), "checks[0].id") {
				t.Fatalf("add with an id: %d %s", withID.status, withID.body)
			}
		})
		t.Run("FilterRefusesAdd", func(t *testing.T) {
			r := app.do("POST", "/v1/authz/filter", map[string]any{"user_id": hunter.userID, "action": "add", "type": "lead"})
			if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_action" || !strings.Contains(string(r.body), "add has no list meaning") {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	})
}
