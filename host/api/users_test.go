package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func TestUsersAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		alicePath := "/v1/users/" + f.alice.userID
		if r := f.admin.do("PUT", "/v1/roles/sales-rep", `{"description":"Sales","capabilities":[]}`); r.status != http.StatusCreated {
			t.Fatalf("role: %d %s", r.status, r.body)
		}

		t.Run("GetAUser", func(t *testing.T) {
			r := f.bob.do("GET", alicePath, nil)
			u := r.json(t)
			if r.status != 200 || u["id"] != f.alice.userID || u["disabled"] != false || u["role"] != "member" || u["manager_id"] != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
		t.Run("PatchEveryField", func(t *testing.T) {
			r := f.admin.do("PATCH", alicePath, map[string]any{"role": "sales-rep", "manager_id": f.bob.userID, "name": "Alice Ames", "disabled": true})
			u := r.json(t)
			if r.status != 200 || u["role"] != "sales-rep" || u["manager_id"] != f.bob.userID || u["name"] != "Alice Ames" || u["disabled"] != true || u["email"] != "alice@acme.test" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := f.bob.do("GET", alicePath, nil).json(t); got["disabled"] != true || got["role"] != "sales-rep" {
				t.Fatalf("read back: %v", got)
			}
			list := string(f.bob.do("GET", "/v1/users", nil).body)
			if !strings.Contains(list, `"id":"`+f.alice.userID+`"`) || !strings.Contains(list, `"disabled":true`) {
				t.Fatalf("the list does not show alice disabled: %s", list)
			}
		})
		t.Run("TheDisabledUsersTokenStops", func(t *testing.T) {
			r := f.alice.do("GET", "/v1/me", nil)
			if r.status != http.StatusUnauthorized || r.errorCode(t) != "user_disabled" || !strings.Contains(string(r.body), "enable") {
				t.Fatalf("%d %s", r.status, r.body)
			}
			r = f.admin.do("PUT", "/v1/records/lead/"+f.admin.do("POST", "/v1/records/lead", `{"data":{"name":"x"}}`).json(t)["id"].(string)+"/owner", map[string]any{"owner_id": f.alice.userID})
			if r.status != 400 || r.errorCode(t) != "user_disabled" {
				t.Fatalf("Assign To a disabled user: %d %s", r.status, r.body)
			}
		})
		t.Run("NullManagerAndEnabled", func(t *testing.T) {
			r := f.admin.do("PATCH", alicePath, `{"manager_id":null,"disabled":false}`)
			if u := r.json(t); r.status != 200 || u["manager_id"] != nil || u["disabled"] != false || u["role"] != "sales-rep" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r := f.alice.do("GET", "/v1/me", nil); r.status != 200 {
				t.Fatalf("alice's token after she is enabled: %d %s", r.status, r.body)
			}
			if r := f.admin.do("PATCH", alicePath, `{"manager_id":""}`); r.status != 200 || r.json(t)["manager_id"] != nil {
				t.Fatalf("empty manager: %d %s", r.status, r.body)
			}
		})
		t.Run("NothingToChange", func(t *testing.T) {
			before := f.admin.do("GET", alicePath, nil).body
			if r := f.admin.do("PATCH", alicePath, `{}`); r.status != 200 || string(r.body) != string(before) {
				t.Fatalf("%d %s, want 200 %s", r.status, r.body, before)
			}
		})
		t.Run("Refusals", func(t *testing.T) {
			adminPath := "/v1/users/" + f.admin.userID
			before := string(f.admin.do("GET", "/v1/users", nil).body)
			for _, tc := range []struct {
				name   string
				c      client
				method string
				path   string
				body   any
				status int
				code   string
			}{
				{"NotAnAdmin", f.bob, "PATCH", alicePath, `{"name":"A"}`, 403, "admin_only"},
				{"UnknownField", f.admin, "PATCH", alicePath, `{"email":"x@acme.test"}`, 400, "unknown_field"},
				{"RoleNotAString", f.admin, "PATCH", alicePath, `{"role":5}`, 400, "invalid_json"},
				{"RoleNull", f.admin, "PATCH", alicePath, `{"role":null}`, 400, "invalid_json"},
				{"DisabledNotABool", f.admin, "PATCH", alicePath, `{"disabled":"yes"}`, 400, "invalid_json"},
				{"ManagerNotAString", f.admin, "PATCH", alicePath, `{"manager_id":7}`, 400, "invalid_json"},
				{"NotAnObject", f.admin, "PATCH", alicePath, `[]`, 400, "invalid_json"},
				{"Null", f.admin, "PATCH", alicePath, `null`, 400, "invalid_body"},
				{"NoBody", f.admin, "PATCH", alicePath, nil, 400, "invalid_json"},
				{"UnknownRole", f.admin, "PATCH", alicePath, `{"role":"closer"}`, 400, "unknown_role"},
				{"UnknownManager", f.admin, "PATCH", alicePath, `{"manager_id":"` + crm.NewID() + `"}`, 400, "unknown_user"},
				{"OwnManager", f.admin, "PATCH", alicePath, `{"manager_id":"` + f.alice.userID + `"}`, 400, "invalid_manager"},
				{"BadName", f.admin, "PATCH", alicePath, `{"name":""}`, 400, "invalid_name"},
				{"UnknownUser", f.admin, "PATCH", "/v1/users/" + crm.NewID(), `{"name":"X"}`, 404, "unknown_user"},
				{"UnknownUserGet", f.admin, "GET", "/v1/users/" + crm.NewID(), nil, 404, "unknown_user"},
				{"BadID", f.admin, "GET", "/v1/users/alice", nil, 400, "invalid_id"},
				{"AnotherInstallsUser", f.mallory, "PATCH", alicePath, `{"name":"X"}`, 404, "unknown_user"},
				{"AnotherInstallsUserGet", f.mallory, "GET", alicePath, nil, 404, "unknown_user"},
				{"LastAdmin", f.admin, "PATCH", adminPath, `{"role":"member"}`, 409, "last_admin"},
				{"LastAdminDisabled", f.admin, "PATCH", adminPath, `{"disabled":true}`, 409, "last_admin"},
				{"PutStays405", f.admin, "PUT", alicePath, `{"name":"X"}`, 405, "method_not_allowed"},
				{"DeleteIs405", f.admin, "DELETE", alicePath, nil, 405, "method_not_allowed"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := tc.c.do(tc.method, tc.path, tc.body)
					if r.status != tc.status || r.errorCode(t) != tc.code {
						t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
					}
				})
			}
			if r := f.admin.do("PATCH", alicePath, `{"role":5}`); !strings.Contains(string(r.body), `"role: must be a string, got a JSON number"`) {
				t.Errorf("a wrong type's message: %s", r.body)
			}
			if after := string(f.admin.do("GET", "/v1/users", nil).body); after != before {
				t.Fatalf("refused requests changed users:\n%s\nwas\n%s", after, before)
			}
		})
	})
}
