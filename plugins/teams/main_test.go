package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func TestConformance(t *testing.T) { sdktest.Conformance(t, teams{}) }

const (
	install = "01J000000000000000000000AC"
	ann     = "01J00000000000000000000001" // in sales
	ben     = "01J00000000000000000000002" // in support
	cid     = "01J00000000000000000000003" // in both, support primary
	boss    = "01J00000000000000000000004" // admin, in no team
	sales   = "01J0000000000000000000000S"
	support = "01J0000000000000000000000T"
)

func policyOf(t *testing.T, settings string, u sdk.User, admin bool) sdk.Policy {
	t.Helper()
	return sdktest.Policy(t, teams{}, sdk.PolicyRequest{User: u, Settings: json.RawMessage(settings), Policy: sdktest.BasePolicy(admin)})
}

func TestIsolation(t *testing.T) {
	annU := sdk.User{ID: ann, Role: "member", Teams: []string{sales}}
	cidU := sdk.User{ID: cid, Role: "member", Teams: []string{support, sales}}
	bossU := sdk.User{ID: boss, Role: "admin"}
	lead := func(team, owner string) sdktest.Record {
		return sdktest.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L1", TeamID: team, OwnerID: owner}
	}
	const adminsOnly = `{"unteamed_visible_to":"admins"}`
	for _, c := range []struct {
		name     string
		settings string
		u        sdk.User
		admin    bool
		action   sdk.Action
		r        sdktest.Record
		want     bool
	}{
		{"MemberSeesOwnTeam", `{}`, annU, false, sdk.ActionView, lead(sales, ben), true},
		{"MemberDoesNotSeeOtherTeam", `{}`, annU, false, sdk.ActionView, lead(support, ann), false},
		{"MemberDoesNotEditOtherTeamEvenOwned", `{}`, annU, false, sdk.ActionEdit, lead(support, ann), false},
		{"MemberDoesNotAssignOtherTeam", `{}`, annU, false, sdk.ActionAssign, lead(support, ""), false},
		{"MemberEditsUnownedOfOwnTeam", `{}`, annU, false, sdk.ActionEdit, lead(sales, ""), true},
		{"MemberOfBothSeesBoth", `{}`, cidU, false, sdk.ActionView, lead(sales, ""), true},
		{"MemberOfBothSeesBothToo", `{}`, cidU, false, sdk.ActionView, lead(support, ""), true},
		{"UnteamedVisibleByDefault", `{}`, annU, false, sdk.ActionView, lead("", ""), true},
		{"UnteamedHiddenWhenForAdmins", adminsOnly, annU, false, sdk.ActionView, lead("", ""), false},
		{"AdminSeesAll", `{}`, bossU, true, sdk.ActionView, lead(support, ben), true},
		{"AdminSeesUnteamedWhenForAdmins", adminsOnly, bossU, true, sdk.ActionView, lead("", ""), true},
		{"CrossTeamRoleSeesAll", `{"cross_team_roles":["manager"]}`, sdk.User{ID: ben, Role: "manager"}, false, sdk.ActionView, lead(sales, ann), true},
		// A new record's team is BeforeWrite's to settle, after the add
		// rule is decided: proposed without one, it goes to the creator's
		// primary team there.
		{"MemberAddsWithoutTeamWhenUnteamedIsForAdmins", adminsOnly, annU, false, sdk.ActionAdd, sdktest.Record{Type: sdk.TypeLead, CreatedBy: ann}, true},
		{"AdminWithoutCrossTeamRoleAdds", `{"cross_team_roles":[]}`, sdk.User{ID: boss, Role: "admin", Teams: []string{sales}}, true, sdk.ActionAdd, sdktest.Record{Type: sdk.TypeLead, CreatedBy: boss}, true},
		{"AdminWithoutCrossTeamRoleKeepsToOwnTeams", `{"cross_team_roles":[]}`, sdk.User{ID: boss, Role: "admin", Teams: []string{sales}}, true, sdk.ActionDelete, lead(support, ""), false},
		{"AdminWithoutCrossTeamRoleDoesAllInOwnTeams", `{"cross_team_roles":[]}`, sdk.User{ID: boss, Role: "admin", Teams: []string{sales}}, true, sdk.ActionDelete, lead(sales, ann), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sdktest.Allowed(policyOf(t, c.settings, c.u, c.admin), c.u, c.action, c.r); got != c.want {
				t.Fatalf("allowed %v, want %v", got, c.want)
			}
		})
	}
}

// The team constraint narrows what a plugin before it allows: an owner-only
// rule stays owner-only, within the user's teams.
func TestConstraintNarrowsEarlierPlugins(t *testing.T) {
	u := sdk.User{ID: ann, Role: "member", Teams: []string{sales}}
	before := sdktest.BasePolicy(false)
	before.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf, Origin: "strict-ownership"}}})
	p := sdktest.Policy(t, teams{}, sdk.PolicyRequest{User: u, Policy: before})
	for _, c := range []struct {
		team, owner string
		want        bool
	}{{sales, ann, true}, {sales, ben, false}, {support, ann, false}} {
		r := sdktest.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L1", TeamID: c.team, OwnerID: c.owner}
		if got := sdktest.Allowed(p, u, sdk.ActionView, r); got != c.want {
			t.Fatalf("lead of team %s owned by %s: allowed %v, want %v", c.team, c.owner, got, c.want)
		}
	}
}

func newHost() *sdktest.Host {
	host := sdktest.NewHost()
	host.AddUser(install, sdk.UserInfo{ID: ann, Name: "Ann", Teams: []string{sales}})
	host.AddUser(install, sdk.UserInfo{ID: ben, Name: "Ben", Teams: []string{support}})
	host.AddUser(install, sdk.UserInfo{ID: cid, Name: "Cid", Teams: []string{support, sales}})
	host.AddUser(install, sdk.UserInfo{ID: boss, Name: "Boss", Role: "admin"})
	host.AddTeam(install, sdk.Team{ID: sales, Name: "Sales", Members: []sdk.TeamMember{{UserID: ann}, {UserID: cid}}})
	host.AddTeam(install, sdk.Team{ID: support, Name: "Support", Members: []sdk.TeamMember{{UserID: ben}, {UserID: cid, Primary: true}}})
	return host
}

func denial(t *testing.T, err error) string {
	t.Helper()
	var d *sdk.Denial
	if err == nil {
		return ""
	}
	if !errors.As(err, &d) {
		t.Fatalf("not a denial: %v", err)
	}
	return d.Code
}

func TestWrites(t *testing.T) {
	host := newHost()
	users := map[string]sdk.User{
		ann: {ID: ann, Role: "member", Teams: []string{sales}}, cid: {ID: cid, Role: "member", Teams: []string{support, sales}},
		boss: {ID: boss, Role: "admin"},
	}
	lead := func(team, owner string) *sdk.Record {
		return &sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L1", TeamID: team, OwnerID: owner}
	}
	for _, c := range []struct {
		name     string
		settings string
		by       string
		op       string
		before   *sdk.Record
		after    *sdk.Record
		wantCode string
		wantTeam *string // nil: left as it is
	}{
		{"CreateGoesToPrimaryTeam", `{}`, cid, sdk.OpCreate, nil, lead("", ""), "", ptr(support)},
		{"CreateInOwnTeam", `{}`, cid, sdk.OpCreate, nil, lead(sales, ""), "", nil},
		{"CreateInAnotherTeam", `{}`, ann, sdk.OpCreate, nil, lead(support, ""), "team_mismatch", nil},
		{"AdminCreatesAnywhere", `{}`, boss, sdk.OpCreate, nil, lead(support, ""), "", nil},
		{"NoTeamWhenUnteamedIsForAdmins", `{"unteamed_visible_to":"admins"}`, boss, sdk.OpCreate, nil, lead("", ""), "", nil},
		{"MemberMovesOut", `{}`, cid, sdk.OpUpdate, lead(sales, ""), lead(support, ""), "team_move_not_allowed", nil},
		{"MemberTakesUnteamedIntoOwnTeam", `{}`, ann, sdk.OpUpdate, lead("", ""), lead(sales, ""), "", nil},
		{"MemberGivesUnteamedToAnotherTeam", `{}`, ann, sdk.OpUpdate, lead("", ""), lead(support, ""), "team_mismatch", nil},
		{"AdminMoves", `{}`, boss, sdk.OpUpdate, lead(sales, ""), lead(support, ""), "", nil},
		{"AssignToMember", `{}`, ann, sdk.OpAssign, lead(sales, ""), lead(sales, cid), "", nil},
		{"AssignOutsideTeam", `{}`, ann, sdk.OpAssign, lead(sales, ""), lead(sales, ben), "team_mismatch", nil},
		{"CreateAssignedOutsideTeam", `{}`, ann, sdk.OpCreate, nil, lead("", ben), "team_mismatch", nil},
		{"AssignMovesTeam", `{"assign_moves_team":true}`, ann, sdk.OpAssign, lead(sales, ""), lead(sales, ben), "", ptr(support)},
		{"AssignMovesToPrimaryTeam", `{"assign_moves_team":true}`, boss, sdk.OpAssign, lead("01J0000000000000000000000X", ""), lead("01J0000000000000000000000X", cid), "", ptr(support)},
		{"AssignToTeamlessCannotMove", `{"assign_moves_team":true}`, ann, sdk.OpAssign, lead(sales, ""), lead(sales, boss), "team_mismatch", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			change, err := sdktest.BeforeWrite(teams{}, host, sdk.Write{Install: sdk.Install{ID: install}, User: users[c.by],
				Settings: json.RawMessage(c.settings), Operation: c.op, Before: c.before, After: c.after})
			if code := denial(t, err); code != c.wantCode {
				t.Fatalf("refused with %q (%v), want %q", code, err, c.wantCode)
			}
			switch {
			case c.wantTeam == nil && change.TeamID != nil:
				t.Fatalf("team set to %q, want it left", *change.TeamID)
			case c.wantTeam != nil && (change.TeamID == nil || *change.TeamID != *c.wantTeam):
				t.Fatalf("team change %v, want %s", change.TeamID, *c.wantTeam)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestRoutes(t *testing.T) {
	host := newHost()
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L1", TeamID: sales})
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L2", TeamID: support})
	host.AddRecord(install, sdk.Record{Type: sdk.TypeContact, ID: "01J000000000000000000000C1", TeamID: support})
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L3"})
	as := func(u, role string, teams ...string) sdk.CallerInfo {
		return sdk.CallerInfo{Install: sdk.Install{ID: install}, User: sdk.User{ID: u, Role: role, Teams: teams}, Settings: json.RawMessage(`{}`)}
	}
	var got struct {
		Teams    []teamCounts `json:"teams"`
		Unteamed *teamCounts  `json:"unteamed"`
	}
	w := sdktest.Route(teams{}, host, as(ann, "member", sales), "GET", "/counts", "")
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
		t.Fatalf("counts: %d %s", w.Code, w.Body)
	}
	if len(got.Teams) != 1 || got.Teams[0].ID != sales || got.Teams[0].Total != 1 || got.Unteamed == nil || got.Unteamed.Total != 1 {
		t.Fatalf("ann's counts: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), support) {
		t.Fatalf("ann's counts name the support team: %s", w.Body)
	}
	w = sdktest.Route(teams{}, host, as(boss, "admin"), "GET", "/counts?type=lead", "")
	if json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Teams) != 2 || got.Teams[1].Counts[sdk.TypeLead] != 1 || got.Teams[1].Total != 1 {
		t.Fatalf("the admin's lead counts: %s", w.Body)
	}
	if w := sdktest.Route(teams{}, host, as(ann, "member", sales), "GET", "/counts?type=deal", ""); w.Code != http.StatusBadRequest {
		t.Fatalf("counts of an unknown type: %d %s", w.Code, w.Body)
	}

	move := `{"from":"` + sales + `","to":"` + support + `"}`
	if w := sdktest.Route(teams{}, host, as(ann, "member", sales), "POST", "/records/lead/move", move); w.Code != http.StatusForbidden {
		t.Fatalf("a member's move: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{`{"from":"` + sales + `"}`, `not json`, `{"from":"` + sales + `","to":"01J0000000000000000000000X"}`} {
		if w := sdktest.Route(teams{}, host, as(boss, "admin"), "POST", "/records/lead/move", bad); w.Code != http.StatusBadRequest {
			t.Fatalf("move %s: %d %s", bad, w.Code, w.Body)
		}
	}
	w = sdktest.Route(teams{}, host, as(boss, "admin"), "POST", "/records/lead/move", move)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"moved":1`) {
		t.Fatalf("the admin's move: %d %s", w.Code, w.Body)
	}
}
