package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func TestConformance(t *testing.T) { sdktest.Conformance(t, strictOwnership{}) }

const (
	install = "01J000000000000000000000AC"
	rep     = "01J00000000000000000000001"
	rep2    = "01J00000000000000000000002"
	boss    = "01J00000000000000000000003"
)

var repsOwn = json.RawMessage(`{"roles":{"sales-rep":{"lead":{"view":"own","edit":"own","delete":"own"}},"manager":{"lead":{"view":"reports","edit":"reports"}}}}`)

func policyOf(t *testing.T, settings json.RawMessage, u sdk.User) sdk.Policy {
	t.Helper()
	return sdktest.Policy(t, strictOwnership{}, sdk.PolicyRequest{User: u, Settings: settings, Policy: sdktest.BasePolicy(u.Role == "admin")})
}

func TestScopes(t *testing.T) {
	salesRep := sdk.User{ID: rep, Role: "sales-rep"}
	manager := sdk.User{ID: boss, Role: "manager", Reports: []string{rep}}
	member := sdk.User{ID: rep2, Role: "member"}
	lead := func(owner, creator string) sdktest.Record {
		return sdktest.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L1", OwnerID: owner, CreatedBy: creator}
	}
	for _, c := range []struct {
		name   string
		u      sdk.User
		action sdk.Action
		r      sdktest.Record
		want   bool
	}{
		{"RepSeesOwn", salesRep, sdk.ActionView, lead(rep, boss), true},
		{"RepSeesUnassignedItCreated", salesRep, sdk.ActionView, lead("", rep), true},
		{"RepLosesWhatItCreatedOnceAssigned", salesRep, sdk.ActionView, lead(rep2, rep), false},
		{"RepDoesNotSeeOthers", salesRep, sdk.ActionView, lead(rep2, rep2), false},
		{"RepDoesNotSeeUnassignedOfOthers", salesRep, sdk.ActionView, lead("", rep2), false},
		{"RepEditsOwn", salesRep, sdk.ActionEdit, lead(rep, rep), true},
		{"ManagerSeesReports", manager, sdk.ActionView, lead(rep, rep), true},
		{"ManagerDoesNotSeeOthers", manager, sdk.ActionView, lead(rep2, rep2), false},
		{"ManagerEditsReports", manager, sdk.ActionEdit, lead(rep, rep), true},
		{"RolesWithoutEntryKeepBase", member, sdk.ActionView, lead(rep, rep), true},
		{"OtherTypesKeepBase", salesRep, sdk.ActionView, sdktest.Record{Type: sdk.TypeContact, ID: "01J000000000000000000000C1", OwnerID: rep2}, true},
		{"AdminsSeeAll", sdk.User{ID: boss, Role: "admin"}, sdk.ActionView, lead(rep2, rep2), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sdktest.Allowed(policyOf(t, repsOwn, c.u), c.u, c.action, c.r); got != c.want {
				t.Fatalf("allowed %v, want %v", got, c.want)
			}
		})
	}
	t.Run("AddScope", func(t *testing.T) {
		settings := json.RawMessage(`{"roles":{"sales-rep":{"contact":{"view":"none","add":"none"},"lead":{"view":"own","add":"all"}}}}`)
		p := policyOf(t, settings, salesRep)
		newOf := func(typ sdk.RecordType) sdktest.Record { return sdktest.Record{Type: typ, CreatedBy: rep} }
		if sdktest.Allowed(p, salesRep, sdk.ActionAdd, newOf(sdk.TypeContact)) {
			t.Error(`add "none": the rep may add a contact`)
		}
		if r := p.Rule(sdk.TypeContact, sdk.ActionAdd); len(r.Any) != 0 {
			t.Errorf(`add "none": the rule still has conditions (a share might give add): %+v`, r)
		}
		if !sdktest.Allowed(p, salesRep, sdk.ActionAdd, newOf(sdk.TypeLead)) {
			t.Error(`add "all": the rep may not add a lead`)
		}
		if !sdktest.Allowed(p, salesRep, sdk.ActionAdd, newOf(sdk.TypeAccount)) {
			t.Error("a type without an add scope lost the base's add")
		}
		// Absent keeps what the plugins before allow, "none" included.
		base := sdktest.BasePolicy(false)
		base.SetRule(sdk.TypeLead, sdk.ActionAdd, sdk.Rule{})
		kept := sdktest.Policy(t, strictOwnership{}, sdk.PolicyRequest{User: salesRep, Settings: repsOwn, Policy: base})
		if sdktest.Allowed(kept, salesRep, sdk.ActionAdd, newOf(sdk.TypeLead)) {
			t.Error("a role without an add scope may add what the base refused")
		}
		admin := sdk.User{ID: boss, Role: "admin"}
		adminSettings := json.RawMessage(`{"roles":{"admin":{"contact":{"add":"none"}}}}`)
		if !sdktest.Allowed(policyOf(t, adminSettings, admin), admin, sdk.ActionAdd, newOf(sdk.TypeContact)) {
			t.Error("an admin may not add")
		}
	})
	t.Run("CreatorKeepsAccess", func(t *testing.T) {
		var s map[string]any
		json.Unmarshal(repsOwn, &s)
		s["creator_keeps_access"] = true
		raw, _ := json.Marshal(s)
		if !sdktest.Allowed(policyOf(t, raw, salesRep), salesRep, sdk.ActionView, lead(rep2, rep)) {
			t.Fatal("the creator lost the lead assigned to someone else")
		}
	})
	t.Run("OnlyShareRolesShare", func(t *testing.T) {
		if sdktest.Allowed(policyOf(t, repsOwn, salesRep), salesRep, sdk.ActionShare, lead(rep, rep)) {
			t.Fatal("a sales rep may share")
		}
		if !sdktest.Allowed(policyOf(t, repsOwn, manager), manager, sdk.ActionShare, lead(rep, rep)) {
			t.Fatal("a manager may not share a report's lead")
		}
	})
}

func TestAssignmentRules(t *testing.T) {
	host := sdktest.NewHost()
	host.AddUser(install, sdk.UserInfo{ID: rep})
	host.AddUser(install, sdk.UserInfo{ID: rep2})
	host.AddTeam(install, sdk.Team{ID: "01J000000000000000000000T1", Members: []sdk.TeamMember{{UserID: rep2}, {UserID: rep}}})
	settings := json.RawMessage(`{"assignment_rules":[
		{"name":"germany","type":"lead","match":[{"field":"country","op":"equals","value":"DE"}],"assign_to":{"user":"` + boss + `"}},
		{"name":"europe","type":"lead","match":[{"field":"country","op":"in","value":["FR","IT"]},{"field":"email","op":"prefix","value":"sales"}],"assign_to":{"team":"01J000000000000000000000T1"}}]}`)
	create := func(id string, data map[string]any, owner string) *string {
		t.Helper()
		c, err := sdktest.BeforeWrite(strictOwnership{}, host, sdk.Write{Install: sdk.Install{ID: install}, User: sdk.User{ID: boss, Role: "member"},
			Settings: settings, Operation: sdk.OpCreate, After: &sdk.Record{ID: id, Type: sdk.TypeLead, Data: data, OwnerID: owner}})
		if err != nil {
			t.Fatal(err)
		}
		return c.OwnerID
	}
	if got := create("01J000000000000000000000L1", map[string]any{"country": "DE"}, ""); got == nil || *got != boss {
		t.Fatalf("germany: %v", got)
	}
	var turns []string
	for _, id := range []string{"01J000000000000000000000L2", "01J000000000000000000000L3", "01J000000000000000000000L4"} {
		got := create(id, map[string]any{"country": "IT", "email": "sales@x.it"}, "")
		if got == nil {
			t.Fatal("europe did not fire")
		}
		turns = append(turns, *got)
	}
	if strings.Join(turns, ",") != rep+","+rep2+","+rep {
		t.Fatalf("round robin: %v", turns)
	}
	if got := create("01J000000000000000000000L5", map[string]any{"country": "IT", "email": "info@x.it"}, ""); got != nil {
		t.Fatalf("a rule fired with one condition unmet: %v", *got)
	}
	if got := create("01J000000000000000000000L6", map[string]any{"country": "DE"}, rep); got != nil {
		t.Fatalf("a rule fired for a record with an owner: %v", *got)
	}
	// The rule that fired is audited once the record exists, once.
	e := sdk.WriteEvent{ID: "01J0000000000000000000000E", Install: sdk.Install{ID: install}, Operation: sdk.OpCreate,
		After: &sdk.Record{ID: "01J000000000000000000000L1", Type: sdk.TypeLead, OwnerID: boss}}
	for range 2 {
		if err := sdktest.AfterWrite(strictOwnership{}, host, e); err != nil {
			t.Fatal(err)
		}
	}
	if a := host.Audited[install]; len(a) != 1 || a[0].Action != "assignment_rule.fired" || a[0].Detail["name"] != "germany" || a[0].Detail["on"] != "create" {
		t.Fatalf("audit: %+v", a)
	}
}

// TestAssignmentRulesOnNumbers: a rule on a number matches the same
// number however it is written, exactly, even where float64 cannot tell
// two numbers apart.
func TestAssignmentRulesOnNumbers(t *testing.T) {
	host := sdktest.NewHost()
	host.AddUser(install, sdk.UserInfo{ID: rep})
	settings := json.RawMessage(`{"assignment_rules":[
		{"name":"tier one","type":"lead","match":[{"field":"tier","op":"equals","value":1}],"assign_to":{"user":"` + boss + `"}},
		{"name":"whales","type":"lead","match":[{"field":"revenue","op":"in","value":[12345678901234567890123, 0.1]}],"assign_to":{"user":"` + rep + `"}}]}`)
	for _, c := range []struct {
		data string
		want string
	}{
		{`{"tier":1}`, boss},
		{`{"tier":1.0}`, boss},
		{`{"tier":10e-1}`, boss},
		{`{"tier":2}`, ""},
		{`{"tier":"1"}`, ""}, // a string is not a number
		{`{"revenue":1.2345678901234567890123e22}`, rep},
		{`{"revenue":12345678901234567890124}`, ""}, // the same float64, another number
		{`{"revenue":0.10}`, rep},
		{`{"revenue":0.10000000000000001}`, ""}, // the same float64 as 0.1, another number
	} {
		// The record as the host sends it: its data as JSON.
		r := sdk.WireRecord(&sdk.Record{ID: "01J000000000000000000000N1", Type: sdk.TypeLead})
		r.DataJson = []byte(c.data)
		w := sdk.Write{Install: sdk.Install{ID: install}, User: sdk.User{ID: boss, Role: "member"},
			Settings: settings, Operation: sdk.OpCreate, After: sdk.RecordOf(r)}
		got, err := sdktest.BeforeWrite(strictOwnership{}, host, w)
		if err != nil {
			t.Fatal(err)
		}
		owner := ""
		if got.OwnerID != nil {
			owner = *got.OwnerID
		}
		if owner != c.want {
			t.Errorf("%s: assigned to %q, want %q", c.data, owner, c.want)
		}
	}
}

func TestOwnScopeAssignsToSelfOnly(t *testing.T) {
	host := sdktest.NewHost()
	w := sdk.Write{Install: sdk.Install{ID: install}, User: sdk.User{ID: rep, Role: "sales-rep"}, Settings: repsOwn, Operation: sdk.OpAssign,
		Before: &sdk.Record{ID: "01J000000000000000000000L1", Type: sdk.TypeLead, OwnerID: rep},
		After:  &sdk.Record{ID: "01J000000000000000000000L1", Type: sdk.TypeLead, OwnerID: rep2}}
	_, err := sdktest.BeforeWrite(strictOwnership{}, host, w)
	var d *sdk.Denial
	if !errors.As(err, &d) || d.Code != "assign_own_only" {
		t.Fatalf("a sales rep gave a lead away: %v", err)
	}
	w.After.OwnerID = rep
	w.Before.OwnerID = ""
	if _, err := sdktest.BeforeWrite(strictOwnership{}, host, w); err != nil {
		t.Fatalf("a sales rep took a lead: %v", err)
	}
	w.User.Role, w.After.OwnerID = "manager", rep2
	if _, err := sdktest.BeforeWrite(strictOwnership{}, host, w); err != nil {
		t.Fatalf("a manager could not assign: %v", err)
	}
}

func TestShares(t *testing.T) {
	host := sdktest.NewHost()
	host.Plugin, host.Source = strictOwnership{}, id
	host.SetSettings(install, repsOwn)
	host.AddUser(install, sdk.UserInfo{ID: rep, Role: "sales-rep"})
	host.AddUser(install, sdk.UserInfo{ID: rep2, Role: "sales-rep"})
	host.AddUser(install, sdk.UserInfo{ID: boss, Role: "manager"})
	host.AddRecord(install, sdk.Record{ID: "01J000000000000000000000L1", Type: sdk.TypeLead, OwnerID: rep, CreatedBy: rep})
	as := func(user, role string) sdk.CallerInfo {
		return sdk.CallerInfo{Install: sdk.Install{ID: install}, User: sdk.User{ID: user, Role: role}, Settings: repsOwn}
	}
	path := "/records/lead/01J000000000000000000000L1/shares"
	if w := sdktest.Route(strictOwnership{}, host, as(rep2, "sales-rep"), "GET", path, ""); w.Code != http.StatusNotFound {
		t.Fatalf("rep2's view of a lead it cannot see: %d %s", w.Code, w.Body)
	}
	if w := sdktest.Route(strictOwnership{}, host, as(rep, "sales-rep"), "POST", path, `{"user_id":"`+rep2+`","access":"view"}`); w.Code != http.StatusForbidden {
		t.Fatalf("a sales rep shared: %d %s", w.Code, w.Body)
	}
	// boss is a manager without reports here: a lead it cannot see.
	host.AddUser(install, sdk.UserInfo{ID: boss, Role: "admin"})
	w := sdktest.Route(strictOwnership{}, host, as(boss, "admin"), "POST", path, `{"user_id":"`+rep2+`","access":"view"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("share: %d %s", w.Code, w.Body)
	}
	var s share
	json.Unmarshal(w.Body.Bytes(), &s)
	if ok, _ := host.Check(context.Background(), install, rep2, sdk.ActionView, sdk.Ref{Type: sdk.TypeLead, ID: "01J000000000000000000000L1"}); !ok[0] {
		t.Fatal("the share gave no view")
	}
	if w := sdktest.Route(strictOwnership{}, host, as(rep2, "sales-rep"), "GET", path, ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), s.ID) {
		t.Fatalf("shares: %d %s", w.Code, w.Body)
	}
	for name, body := range map[string]string{
		"UnknownUser": `{"user_id":"01J0000000000000000000000Z","access":"view"}`,
		"BadAccess":   `{"user_id":"` + rep2 + `","access":"own"}`,
		"Both":        `{"user_id":"` + rep2 + `","team_id":"x","access":"view"}`,
		"NotJSON":     `{`,
	} {
		if w := sdktest.Route(strictOwnership{}, host, as(boss, "admin"), "POST", path, body); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if w := sdktest.Route(strictOwnership{}, host, as(boss, "admin"), "DELETE", path+"/"+s.ID, ""); w.Code != http.StatusNoContent {
		t.Fatalf("unshare: %d %s", w.Code, w.Body)
	}
	if ok, _ := host.Check(context.Background(), install, rep2, sdk.ActionView, sdk.Ref{Type: sdk.TypeLead, ID: "01J000000000000000000000L1"}); ok[0] {
		t.Fatal("the share outlived its removal")
	}
}
