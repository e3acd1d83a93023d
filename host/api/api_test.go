package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/api"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	code := m.Run()
	if pluginBuilds != "" {
		os.RemoveAll(pluginBuilds)
	}
	os.Exit(code)
}

// client talks to the API as one user.
type client struct {
	t      *testing.T
	h      http.Handler
	token  string
	userID string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return v
}

// errorCode returns the code of an error response, failing on any other
// shape.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("status %d: not an error body: %s", r.status, r.body)
	}
	return body.Error.Code
}

func (c client) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

type fixture struct {
	h                          http.Handler
	svc                        *service.Service
	admin, alice, bob, mallory client
	// user adds a user of acme with a token.
	user func(t *testing.T, email, role string) client
}

func newFixture(t *testing.T, db *store.DB) fixture {
	t.Helper()
	return newFixtureWith(t, db, "")
}

// newFixtureWith is newFixture on a host whose operator token is
// operatorToken ("" for none).
func newFixtureWith(t *testing.T, db *store.DB, operatorToken string) fixture {
	t.Helper()
	ctx := context.Background()
	svc, err := service.New(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{
		Service: svc, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready:         func(ctx context.Context) error { return db.Ping(ctx) },
		OperatorToken: operatorToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{h: h, svc: svc}
	user := func(in crm.Install, email, role string) client {
		t.Helper()
		u, err := svc.AddUser(ctx, in, service.NewUser{Email: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := svc.CreateToken(ctx, u, "test")
		if err != nil {
			t.Fatal(err)
		}
		return client{t: t, h: h, token: tok, userID: u.ID}
	}
	acme, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := svc.CreateInstall(ctx, "globex", "")
	if err != nil {
		t.Fatal(err)
	}
	f.user = func(t *testing.T, email, role string) client {
		c := user(acme, email, role)
		c.t = t
		return c
	}
	f.admin = user(acme, "admin@acme.test", crm.RoleAdmin)
	f.alice = user(acme, "alice@acme.test", crm.RoleMember)
	f.bob = user(acme, "bob@acme.test", crm.RoleMember)
	f.mallory = user(globex, "mallory@globex.test", crm.RoleAdmin)
	return f
}

func (f fixture) anonymous(t *testing.T) client { return client{t: t, h: f.h} }

func TestRecordsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		created := f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner", "email": "beep@rr.example", "amount": 12345678901234567}, "owner_id": f.alice.userID})
		if created.status != http.StatusCreated || created.header.Get("ETag") != `"1"` {
			t.Fatalf("create: %d %s", created.status, created.body)
		}
		lead := created.json(t)
		id := lead["id"].(string)
		path := "/v1/records/lead/" + id

		t.Run("Shape", func(t *testing.T) {
			for _, key := range []string{"id", "type", "owner_id", "created_by", "team_id", "parent", "data", "version", "created_at", "updated_at"} {
				if _, ok := lead[key]; !ok {
					t.Errorf("record has no %q: %s", key, created.body)
				}
			}
			if !strings.Contains(string(created.body), `"amount":12345678901234567`) {
				t.Errorf("large number not kept exactly: %s", created.body)
			}
		})
		t.Run("BobReadsButCannotEdit", func(t *testing.T) {
			if r := f.bob.do("GET", path, nil); r.status != http.StatusOK {
				t.Fatalf("get: %d %s", r.status, r.body)
			}
			r := f.bob.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "won"}})
			if r.status != http.StatusForbidden || r.errorCode(t) != "not_owner" {
				t.Fatalf("patch: %d %s", r.status, r.body)
			}
		})
		t.Run("IfMatch", func(t *testing.T) {
			r := f.alice.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "qualified"}}, "If-Match", `"1"`)
			if r.status != http.StatusOK || r.header.Get("ETag") != `"2"` {
				t.Fatalf("patch: %d %s", r.status, r.body)
			}
			r = f.alice.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "lost"}}, "If-Match", `"1"`)
			if r.status != http.StatusPreconditionFailed || r.errorCode(t) != "version_mismatch" {
				t.Fatalf("stale patch: %d %s", r.status, r.body)
			}
			r = f.alice.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "lost"}}, "If-Match", `soon`)
			if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_if_match" {
				t.Fatalf("bad If-Match: %d %s", r.status, r.body)
			}
		})
		t.Run("AssignTo", func(t *testing.T) {
			r := f.alice.do("PUT", path+"/owner", map[string]any{"owner_id": f.bob.userID})
			if r.status != http.StatusOK || r.json(t)["owner_id"] != f.bob.userID {
				t.Fatalf("assign: %d %s", r.status, r.body)
			}
			r = f.alice.do("PUT", path+"/owner", map[string]any{"owner_id": nil})
			if r.status != http.StatusForbidden || r.errorCode(t) != "not_owner" {
				t.Fatalf("assign by former owner: %d %s", r.status, r.body)
			}
			r = f.bob.do("PUT", path+"/owner", map[string]any{})
			if r.status != http.StatusBadRequest {
				t.Fatalf("assign without owner_id: %d %s", r.status, r.body)
			}
			hist := f.alice.do("GET", path+"/access", nil)
			if hist.status != http.StatusOK || !strings.Contains(string(hist.body), `"action":"record.assign"`) {
				t.Fatalf("access history: %d %s", hist.status, hist.body)
			}
		})
		t.Run("BulkReassign", func(t *testing.T) {
			r := f.admin.do("POST", "/v1/records/lead:reassign", map[string]any{"from": f.bob.userID, "to": f.alice.userID})
			if r.status != http.StatusOK || r.json(t)["reassigned"] != float64(1) || !strings.Contains(string(r.body), `"refused":[]`) {
				t.Fatalf("reassign: %d %s", r.status, r.body)
			}
			r = f.bob.do("POST", "/v1/records/lead:reassign", map[string]any{"from": f.alice.userID, "to": f.bob.userID})
			if r.status != http.StatusForbidden {
				t.Fatalf("member reassign: %d %s", r.status, r.body)
			}
			r = f.admin.do("POST", "/v1/records/lead:reassign", map[string]any{"from": f.alice.userID, "to": crm.NewID()})
			if r.status != http.StatusBadRequest || r.errorCode(t) != "unknown_user" {
				t.Fatalf("reassign to nobody: %d %s", r.status, r.body)
			}
		})
		t.Run("BulkReassignRefusesWhatAssignToRefuses", func(t *testing.T) {
			carol := f.user(t, "carol@acme.test", crm.RoleManager)
			single := carol.do("PUT", path+"/owner", map[string]any{"owner_id": f.bob.userID})
			if single.status != http.StatusForbidden || single.errorCode(t) != "not_owner" {
				t.Fatalf("a manager's Assign To of alice's lead: %d %s", single.status, single.body)
			}
			r := carol.do("POST", "/v1/records/lead:reassign", map[string]any{"from": f.alice.userID, "to": f.bob.userID})
			var got struct {
				Reassigned int
				Refused    []struct{ ID, Code, Message string }
			}
			json.Unmarshal(r.body, &got)
			msg := single.json(t)["error"].(map[string]any)["message"]
			if r.status != http.StatusOK || got.Reassigned != 0 || len(got.Refused) != 1 || got.Refused[0].ID != id ||
				got.Refused[0].Code != "not_owner" || got.Refused[0].Message != msg {
				t.Fatalf("a manager's bulk reassignment of alice's lead: %d %s", r.status, r.body)
			}
			if owner := f.alice.do("GET", path, nil).json(t)["owner_id"]; owner != f.alice.userID {
				t.Fatalf("the refused lead is %v's", owner)
			}
		})
		t.Run("OtherInstallGets404LikeMissing", func(t *testing.T) {
			invisible := f.mallory.do("GET", path, nil)
			missing := f.mallory.do("GET", "/v1/records/lead/"+crm.NewID(), nil)
			if invisible.status != http.StatusNotFound || !bytes.Equal(invisible.body, missing.body) {
				t.Fatalf("invisible %d %s vs missing %d %s", invisible.status, invisible.body, missing.status, missing.body)
			}
			for _, p := range []string{"/v1/records/lead", "/v1/records/lead?q=Road", "/v1/records/lead?owner=" + f.alice.userID} {
				r := f.mallory.do("GET", p, nil)
				if r.status != http.StatusOK || strings.Contains(string(r.body), id) {
					t.Fatalf("%s from globex: %d %s", p, r.status, r.body)
				}
			}
			for _, p := range []string{path + "/related", path + "/access"} {
				if r := f.mallory.do("GET", p, nil); r.status != http.StatusNotFound {
					t.Fatalf("%s from globex: %d %s", p, r.status, r.body)
				}
			}
			if r := f.mallory.do("DELETE", path, nil); r.status != http.StatusNotFound {
				t.Fatalf("delete from globex: %d", r.status)
			}
		})
		t.Run("CountsAreOfVisibleRecords", func(t *testing.T) {
			for range 3 {
				if r := f.bob.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Wile E."}, "owner_id": f.bob.userID}); r.status != http.StatusCreated {
					t.Fatalf("create: %d %s", r.status, r.body)
				}
			}
			count := func(c client, query string) float64 {
				t.Helper()
				r := c.do("GET", "/v1/records/lead:count"+query, nil)
				if r.status != http.StatusOK {
					t.Fatalf("count%s: %d %s", query, r.status, r.body)
				}
				return r.json(t)["count"].(float64)
			}
			listed := func(c client, query string) float64 {
				t.Helper()
				r := c.do("GET", "/v1/records/lead?limit=200&"+query, nil)
				if r.status != http.StatusOK {
					t.Fatalf("list?%s: %d %s", query, r.status, r.body)
				}
				return float64(len(r.json(t)["items"].([]any)))
			}
			view, edit := count(f.bob, ""), count(f.bob, "?can=edit")
			if view != listed(f.bob, "") || edit != listed(f.bob, "can=edit") {
				t.Fatalf("bob counts %v visible and %v editable, lists %v and %v", view, edit, listed(f.bob, ""), listed(f.bob, "can=edit"))
			}
			if edit < 3 || edit >= view {
				t.Fatalf("bob may edit %v of %v visible leads: alice's lead must not count", edit, view)
			}
			if n := count(f.bob, "?q=Wile"); n != 3 {
				t.Fatalf("search count: %v, want 3", n)
			}
			if n := count(f.mallory, ""); n != 0 {
				t.Fatalf("globex counts %v of acme's leads", n)
			}
			for _, bad := range []string{"?limit=5", "?can=delete", "?owner=someone"} {
				if r := f.bob.do("GET", "/v1/records/lead:count"+bad, nil); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_filter" {
					t.Fatalf("count%s: %d %s", bad, r.status, r.body)
				}
			}
			if r := f.bob.do("GET", "/v1/records/lemon:count", nil); r.status != http.StatusBadRequest {
				t.Fatalf("count of an unknown type: %d %s", r.status, r.body)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			if r := f.alice.do("DELETE", path, nil); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if r := f.alice.do("GET", path, nil); r.status != http.StatusNotFound {
				t.Fatalf("get after delete: %d", r.status)
			}
		})
	})
}

func TestBadInput(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	lead := f.alice.do("POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "x"}}).json(t)
	leadPath := "/v1/records/lead/" + lead["id"].(string)
	big := `{"data":{"name":"x","blob":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}}`

	for _, tc := range []struct {
		name   string
		c      client
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"MalformedJSON", f.alice, "POST", "/v1/records/lead", `{"data":`, 400, "invalid_json"},
		{"NotJSON", f.alice, "POST", "/v1/records/lead", `name=x`, 400, "invalid_json"},
		{"EmptyBody", f.alice, "POST", "/v1/records/lead", nil, 400, "invalid_json"},
		{"TwoValues", f.alice, "POST", "/v1/records/lead", `{"data":{"name":"x"}}{}`, 400, "invalid_json"},
		{"DataNotObject", f.alice, "POST", "/v1/records/lead", `{"data":[1]}`, 400, "invalid_json"},
		{"UnknownField", f.alice, "POST", "/v1/records/lead", `{"data":{"name":"x"},"colour":"red"}`, 400, "unknown_field"},
		{"UnknownPatchField", f.alice, "PATCH", leadPath, `{"colour":"red"}`, 400, "unknown_field"},
		{"OwnerInPatch", f.alice, "PATCH", leadPath, `{"owner_id":null}`, 400, "use_assign"},
		{"UnknownType", f.alice, "GET", "/v1/records/leads", nil, 400, "invalid_record_type"},
		{"UnknownTypeCreate", f.alice, "POST", "/v1/records/deal", `{"data":{"name":"x"}}`, 400, "invalid_record_type"},
		{"TooLarge", f.alice, "POST", "/v1/records/lead", big, 413, "body_too_large"},
		{"InvalidID", f.alice, "GET", "/v1/records/lead/123", nil, 400, "invalid_id"},
		{"InvalidCursor", f.alice, "GET", "/v1/records/lead?cursor=abc", nil, 400, "invalid_cursor"},
		{"InvalidLimit", f.alice, "GET", "/v1/records/lead?limit=ten", nil, 400, "invalid_limit"},
		{"LimitTooLarge", f.alice, "GET", "/v1/records/lead?limit=1000", nil, 400, "invalid_limit"},
		{"MissingToken", f.anonymous(t), "GET", "/v1/records/lead", nil, 401, "missing_token"},
		{"InvalidToken", client{t: t, h: f.h, token: "cg_nope"}, "GET", "/v1/records/lead", nil, 401, "invalid_token"},
		{"UnknownRoute", f.alice, "GET", "/v1/nope", nil, 404, "no_route"},
		{"WrongMethod", f.alice, "PUT", "/v1/records/lead", nil, 405, "method_not_allowed"},
		{"MemberCreatesUser", f.alice, "POST", "/v1/users", `{"email":"x@acme.test"}`, 403, "admin_only"},
		{"BadSetting", f.admin, "PUT", "/v1/settings", `{"assign_by":"robots"}`, 400, "invalid_settings"},
		{"SettingWrongType", f.admin, "PUT", "/v1/settings", `{"assignment_enabled":"yes"}`, 400, "invalid_settings"},
		{"SettingsNotJSON", f.admin, "PUT", "/v1/settings", `{"assign_by":`, 400, "invalid_json"},
		{"TeamMembersMissing", f.admin, "PUT", "/v1/teams/" + crm.NewID() + "/members", `{}`, 400, "invalid_body"},
		{"UnknownTeam", f.admin, "PUT", "/v1/teams/" + crm.NewID() + "/members", `{"members":[]}`, 404, "unknown_team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do(tc.method, tc.path, tc.body)
			if r.status != tc.status || r.errorCode(t) != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	t.Run("NothingWrittenByRefusedRequests", func(t *testing.T) {
		r := f.alice.do("GET", "/v1/records/lead", nil)
		var page struct{ Items []any }
		json.Unmarshal(r.body, &page)
		if len(page.Items) != 1 {
			t.Fatalf("%d leads after refused requests, want 1", len(page.Items))
		}
	})
}

func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	bad := client{t: t, h: f.h, token: "cg_wrong"}
	limited := false
	for range 40 {
		if r := bad.do("GET", "/v1/me", nil); r.status == http.StatusTooManyRequests {
			limited = r.errorCode(t) == "too_many_failures"
			break
		}
	}
	if !limited {
		t.Fatal("40 bad tokens in a row were never refused with 429")
	}
}

func TestOperationalEndpoints(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	anon := f.anonymous(t)
	if r := anon.do("GET", "/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := anon.do("GET", "/readyz", nil); r.status != http.StatusOK {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	f.alice.do("GET", "/v1/records/lead", nil)
	r := anon.do("GET", "/metrics", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `crmguard_http_requests_total{method="GET",route="/v1/records/:type",status="200"} 1`) || !strings.Contains(string(r.body), `crmguard_http_request_duration_seconds_count{method="GET",route="/v1/records/:type",status="200"} 1`) {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	me := f.alice.do("GET", "/v1/me", nil, "X-Request-ID", "abc-123")
	if me.status != http.StatusOK || me.header.Get("X-Request-ID") != "abc-123" || !strings.Contains(string(me.body), "alice@acme.test") {
		t.Fatalf("me: %d %v %s", me.status, me.header, me.body)
	}
}

// TestOperatorEndpoints: only the host's operator token opens /v1/admin;
// users' tokens, even admins', are wrong tokens there, and with no operator
// token configured the endpoints are off for everyone. (The restart itself,
// on a real plugin, is in testing/e2e.)
func TestOperatorEndpoints(t *testing.T) {
	const token = "op-0123456789abcdefghijklmnopqrstuvwxyz"
	const restart = "/v1/admin/plugins/hello/restart"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixtureWith(t, db, token)
		as := func(tok string) client { return client{t: t, h: f.h, token: tok} }
		for _, tc := range []struct {
			name   string
			c      client
			status int
			code   string
		}{
			{"NoToken", f.anonymous(t), 401, "missing_token"},
			{"AdminUserToken", f.admin, 401, "invalid_token"},
			{"OtherInstallsAdmin", f.mallory, 401, "invalid_token"},
			{"MemberToken", f.alice, 401, "invalid_token"},
			{"WrongOperatorToken", as(token[:len(token)-1] + "X"), 401, "invalid_token"},
			{"OperatorTokenPrefix", as(token[:32]), 401, "invalid_token"},
			{"OperatorTokenLonger", as(token + "0"), 401, "invalid_token"},
			{"UnknownPlugin", as(token), 404, "unknown_plugin"}, // this host runs no plugins
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.c.do("POST", restart, nil)
				if r.status != tc.status || r.errorCode(t) != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
				}
				if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
		t.Run("OperatorTokenIsNoUserToken", func(t *testing.T) {
			if r := as(token).do("GET", "/v1/me", nil); r.status != 401 {
				t.Fatalf("GET /v1/me with the operator token: %d %s", r.status, r.body)
			}
		})
	})

	t.Run("Off", func(t *testing.T) {
		f := newFixture(t, storetest.SQLite(t))
		for _, c := range []client{f.anonymous(t), f.admin, {t: t, h: f.h, token: token}} {
			if r := c.do("POST", restart, nil); r.status != 403 || r.errorCode(t) != "operator_disabled" {
				t.Fatalf("token %.6q…: got %d %s, want 403 operator_disabled", c.token, r.status, r.body)
			}
		}
	})

	t.Run("WrongTokensAreRateLimited", func(t *testing.T) {
		f := newFixtureWith(t, storetest.SQLite(t), token)
		wrong := client{t: t, h: f.h, token: strings.Repeat("x", len(token))}
		limited := false
		for range 40 {
			if r := wrong.do("POST", restart, nil); r.status == http.StatusTooManyRequests {
				limited = r.errorCode(t) == "too_many_failures"
				break
			}
		}
		if !limited {
			t.Fatal("40 wrong operator tokens in a row were never refused with 429")
		}
		// One budget per address: guessing operator tokens also limits
		// guessing users' tokens; the right token is never refused.
		if r := (client{t: t, h: f.h, token: "cg_wrong"}).do("GET", "/v1/me", nil); r.status != http.StatusTooManyRequests {
			t.Fatalf("a bad user token after the operator guesses: %d %s", r.status, r.body)
		}
		if r := (client{t: t, h: f.h, token: token}).do("POST", restart, nil); r.status != http.StatusNotFound {
			t.Fatalf("the operator token from a limited address: %d %s, want 404 unknown_plugin", r.status, r.body)
		}
	})
}
