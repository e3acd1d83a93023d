package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func TestConformance(t *testing.T) { sdktest.Conformance(t, delegation{}) }

const (
	install = "01J000000000000000000000AC"
	alice   = "01J00000000000000000000001" // owns the lead
	bob     = "01J00000000000000000000002" // the delegate
	intern  = "01J00000000000000000000003" // a role that may not delegate leads
	boss    = "01J00000000000000000000004" // admin
	lead    = "01J000000000000000000000L1"
)

// strictLeads makes members see only their own leads, as strict-ownership
// would, so that a delegation is what lets bob in.
func strictLeads() sdk.Policy {
	p := sdktest.BasePolicy(false)
	own := sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}}}
	p.SetRule(sdk.TypeLead, sdk.ActionView, own)
	p.SetRule(sdk.TypeLead, sdk.ActionEdit, own)
	return p
}

func TestPolicy(t *testing.T) {
	p := sdktest.Policy(t, delegation{}, sdk.PolicyRequest{User: sdk.User{ID: bob, Role: "member"}, Policy: strictLeads()})
	u := sdk.User{ID: bob}
	rec := sdktest.Record{Type: sdk.TypeLead, ID: lead, OwnerID: alice}
	if sdktest.Allowed(p, u, sdk.ActionView, rec) {
		t.Fatal("bob sees alice's lead without a delegation")
	}
	// Sharing stays as the plugins before left it: delegating is not
	// sharing.
	if own := (sdktest.Record{Type: sdk.TypeLead, ID: lead, OwnerID: bob}); sdktest.Allowed(p, u, sdk.ActionShare, own) {
		t.Fatal("the plugin gave owners the share action")
	}
}

func newHost(settings string) *sdktest.Host {
	host := sdktest.NewHost()
	host.Source, host.Plugin = id, delegation{}
	host.AddUser(install, sdk.UserInfo{ID: alice, Name: "Alice"})
	host.AddUser(install, sdk.UserInfo{ID: bob, Name: "Bob"})
	host.AddUser(install, sdk.UserInfo{ID: intern, Name: "Ivy", Role: "intern"})
	host.AddUser(install, sdk.UserInfo{ID: boss, Name: "Boss", Role: "admin"})
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: lead, OwnerID: alice, Data: map[string]any{"name": "Acme"}})
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L2", OwnerID: intern})
	host.SetSettings(install, json.RawMessage(settings))
	return host
}

func as(u, role string, settings string) sdk.CallerInfo {
	return sdk.CallerInfo{Install: sdk.Install{ID: install}, User: sdk.User{ID: u, Role: role}, Settings: json.RawMessage(settings)}
}

func code(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error struct{ Code string } }
	json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

func TestDelegate(t *testing.T) {
	const settings = `{"disabled":{"lead":{"roles":["intern"]}}}`
	host := newHost(settings)
	path := "/records/lead/" + lead + "/delegations"
	w := sdktest.Route(delegation{}, host, as(alice, "member", settings), "POST", path, `{"user_id":"`+bob+`"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("alice's delegation: %d %s", w.Code, w.Body)
	}
	var v view
	json.Unmarshal(w.Body.Bytes(), &v)
	if want := time.Now().Add(14 * 24 * time.Hour); v.ExpiresAt == nil || v.ExpiresAt.Sub(want).Abs() > time.Minute {
		t.Fatalf("a lead's default expiry: %v, want 14 days from now", v.ExpiresAt)
	}
	if ok, _ := host.Check(t.Context(), install, bob, sdk.ActionEdit, sdk.Ref{Type: sdk.TypeLead, ID: lead}); !ok[0] {
		t.Fatal("bob may not edit the delegated lead")
	}
	if n := host.Notified[install]; len(n) != 1 || len(n[0].UserIDs) != 2 || !strings.Contains(n[0].Subject, "Bob") {
		t.Fatalf("alerts: %+v", n)
	}

	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, who, role, path, body string
		status                      int
		code                        string
	}{
		{"ToAnotherInstallsUser", alice, "member", path, `{"user_id":"01J0000000000000000000000Z"}`, 400, "unknown_user"},
		{"ToTheOwner", boss, "admin", path, `{"user_id":"` + alice + `"}`, 400, "invalid_delegate"},
		{"InThePast", alice, "member", path, `{"user_id":"` + bob + `","expires_at":"2020-01-01T00:00:00Z"}`, 400, "invalid_expiry"},
		{"BeyondTheMaximum", alice, "member", path, `{"user_id":"` + bob + `","expires_at":"2099-01-01T00:00:00Z"}`, 400, "invalid_expiry"},
		{"NotAllowedToShare", bob, "member", path, `{"user_id":"` + intern + `","expires_at":"` + future + `"}`, 403, "not_allowed"},
		{"FromADisabledRole", intern, "intern", "/records/lead/01J000000000000000000000L2/delegations", `{"user_id":"` + bob + `"}`, 403, "delegation_disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(host.Notified[install])
			w := sdktest.Route(delegation{}, host, as(c.who, c.role, settings), "POST", c.path, c.body)
			if w.Code != c.status || code(t, w.Body.String()) != c.code {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
			if len(host.Notified[install]) != before {
				t.Fatal("a refused delegation sent an alert")
			}
			grants, _, _ := host.ListGrants(t.Context(), install, sdk.GrantQuery{State: "all"})
			if len(grants) != 1 {
				t.Fatalf("a refused delegation stored a grant: %d", len(grants))
			}
		})
	}
}

func TestAdminDeletesSeveral(t *testing.T) {
	host := newHost(`{}`)
	path := "/records/lead/" + lead + "/delegations"
	var ids []string
	for _, u := range []string{bob, intern} {
		w := sdktest.Route(delegation{}, host, as(alice, "member", `{}`), "POST", path, `{"user_id":"`+u+`"}`)
		var v view
		json.Unmarshal(w.Body.Bytes(), &v)
		ids = append(ids, v.ID)
	}
	if w := sdktest.Route(delegation{}, host, as(alice, "member", `{}`), "DELETE", "/delegations?ids="+ids[0], ""); w.Code != http.StatusForbidden {
		t.Fatalf("a member's clean-up: %d %s", w.Code, w.Body)
	}
	if w := sdktest.Route(delegation{}, host, as(boss, "admin", `{}`), "DELETE", "/delegations?ids="+ids[0]+",01J0000000000000000000000Z", ""); w.Code != http.StatusNotFound {
		t.Fatalf("an unknown id among several: %d %s", w.Code, w.Body)
	}
	if grants, _, _ := host.ListGrants(t.Context(), install, sdk.GrantQuery{}); len(grants) != 2 {
		t.Fatalf("a refused clean-up deleted %d delegations", 2-len(grants))
	}
	w := sdktest.Route(delegation{}, host, as(boss, "admin", `{}`), "DELETE", "/delegations?ids="+strings.Join(ids, ","), "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"deleted":2`) {
		t.Fatalf("deleting two: %d %s", w.Code, w.Body)
	}
}

func TestBulkSaysWhatWasRefused(t *testing.T) {
	host := newHost(`{}`)
	body := `{"user_id":"` + bob + `","type":"lead","ids":["` + lead + `","01J000000000000000000000L2","01J0000000000000000000000Z"]}`
	w := sdktest.Route(delegation{}, host, as(alice, "member", `{}`), "POST", "/delegations:bulk", body)
	var out struct {
		Delegated []view
		Refused   []struct{ ID, Code string }
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil {
		t.Fatalf("bulk: %d %s", w.Code, w.Body)
	}
	// alice's lead goes; ivy's she may not delegate; the third does not exist.
	if len(out.Delegated) != 1 || out.Delegated[0].Record.ID != lead || len(out.Refused) != 2 ||
		out.Refused[0].Code != "not_allowed" || out.Refused[1].Code != "not_found" {
		t.Fatalf("bulk result: %s", w.Body)
	}
	if n := host.Notified[install]; len(n) != 1 {
		t.Fatalf("a bulk delegation sent %d alerts, want one for everyone", len(n))
	}
}

func TestDisabledTeam(t *testing.T) {
	const team = "01J0000000000000000000000T"
	settings := `{"disabled":{"lead":{"teams":["` + team + `"]}}}`
	host := newHost(settings)
	caller := as(alice, "member", settings)
	caller.User.Teams = []string{team}
	w := sdktest.Route(delegation{}, host, caller, "POST", "/records/lead/"+lead+"/delegations", `{"user_id":"`+bob+`"}`)
	if w.Code != http.StatusForbidden || code(t, w.Body.String()) != "delegation_disabled" {
		t.Fatalf("a member of a disabled team delegated: %d %s", w.Code, w.Body)
	}
}

func TestDelegateRolesAndExpiredChanges(t *testing.T) {
	host := newHost(`{}`)
	const manager = "01J00000000000000000000005"
	host.AddUser(install, sdk.UserInfo{ID: manager, Name: "Meg", Role: "manager"})
	path := "/records/lead/" + lead + "/delegations"
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w := sdktest.Route(delegation{}, host, as(manager, "manager", `{}`), "POST", path, `{"user_id":"`+bob+`","expires_at":"`+soon+`"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("a delegate role's delegation of another's lead: %d %s", w.Code, w.Body)
	}
	var v view
	json.Unmarshal(w.Body.Bytes(), &v)
	// Two hours on, by the host's clock: the delegation has expired, and
	// changing it is refused (delegate again instead).
	host.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	w = sdktest.Route(delegation{}, host, as(alice, "member", `{}`), "PATCH", "/delegations/"+v.ID,
		`{"expires_at":"`+time.Now().Add(5*time.Hour).UTC().Format(time.RFC3339)+`"}`)
	if w.Code != http.StatusConflict || code(t, w.Body.String()) != "delegation_expired" {
		t.Fatalf("a change of an expired delegation: %d %s", w.Code, w.Body)
	}
	w = sdktest.Route(delegation{}, host, as(alice, "member", `{}`), "GET", path+"?state=expired", "")
	if !strings.Contains(w.Body.String(), `"state":"expired"`) {
		t.Fatalf("by the host's clock the delegation is expired: %s", w.Body)
	}
}
