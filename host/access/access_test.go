package access_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

func principal(role crm.Role, settings crm.Settings) crm.Principal {
	return crm.Principal{
		Install: crm.Install{ID: "I1", Settings: settings},
		User:    crm.User{ID: "U1", InstallID: "I1", Role: role.Name},
		Role:    role,
	}
}

var (
	admin   = crm.BuiltInRoles()[0]
	manager = crm.BuiltInRoles()[1]
	member  = crm.BuiltInRoles()[2]
)

func settings(enabled bool, by crm.AssignBy) crm.Settings {
	return crm.Settings{AssignmentEnabled: enabled, AssignBy: by}
}

func facts(owner string) access.Facts {
	return access.Facts{Type: crm.TypeLead, ID: "R1", OwnerID: owner, CreatedBy: "U9"}
}

// allowed evaluates the base policy of role and settings for user U1.
func allowed(role crm.Role, s crm.Settings, action sdk.Action, owner string) bool {
	return access.Evaluate(access.BasePolicy(s, role), access.Subject{UserID: "U1"}, action, facts(owner), time.Now()).Allowed
}

func TestBasePolicyEdit(t *testing.T) {
	on := settings(true, crm.AssignByOwners)
	for _, tc := range []struct {
		name     string
		role     crm.Role
		settings crm.Settings
		owner    string
		want     bool
	}{
		{"AssigneeEdits", member, on, "U1", true},
		{"OtherMemberIsNotOwner", member, on, "U2", false},
		{"ManagerIsNotOwner", manager, on, "U2", false},
		{"AdminEditsAnything", admin, on, "U2", true},
		{"UnassignedIsEditableByAnyone", member, on, "", true},
		{"AssignmentOffEveryoneEdits", member, settings(false, crm.AssignByOwners), "U2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allowed(tc.role, tc.settings, sdk.ActionEdit, tc.owner); got != tc.want {
				t.Errorf("edit: got %v, want %v", got, tc.want)
			}
			// Deleting needs the right to edit, never more or less.
			if got := allowed(tc.role, tc.settings, sdk.ActionDelete, tc.owner); got != tc.want {
				t.Errorf("delete: got %v, want %v", got, tc.want)
			}
			// Everyone sees every record of the install.
			if !allowed(tc.role, tc.settings, sdk.ActionView, tc.owner) {
				t.Error("view refused")
			}
		})
	}
}

func TestBasePolicyAssign(t *testing.T) {
	for _, tc := range []struct {
		name     string
		role     crm.Role
		settings crm.Settings
		owner    string
		want     bool
	}{
		{"OwnersAssigneeHandsOver", member, settings(true, crm.AssignByOwners), "U1", true},
		{"OwnersAnyoneClaimsUnassigned", member, settings(true, crm.AssignByOwners), "", true},
		{"OwnersOthersRecordRefused", member, settings(true, crm.AssignByOwners), "U2", false},
		{"OwnersAdmin", admin, settings(true, crm.AssignByOwners), "U2", true},
		{"AdminsMemberRefused", member, settings(true, crm.AssignByAdmins), "U1", false},
		{"AdminsManagerRefused", manager, settings(true, crm.AssignByAdmins), "", false},
		{"AdminsAdmin", admin, settings(true, crm.AssignByAdmins), "U2", true},
		{"EveryoneMemberReassignsOthers", member, settings(true, crm.AssignByEveryone), "U2", true},
		{"DisabledMember", member, settings(false, crm.AssignByEveryone), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allowed(tc.role, tc.settings, sdk.ActionAssign, tc.owner); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBasePolicyNeedsNothingMore(t *testing.T) {
	if n := access.NeedsOf(access.BasePolicy(crm.DefaultSettings(), member)); n.Grants || n.ParentDepth != 0 {
		t.Fatalf("the base policy asks for grants or parents: %+v", n)
	}
	if !access.BasePolicy(crm.DefaultSettings(), admin).Admin || access.BasePolicy(crm.DefaultSettings(), manager).Admin {
		t.Fatal("Admin follows the admin capability")
	}
}

func TestCheckBulkReassign(t *testing.T) {
	custom := crm.Role{Name: "team-lead", Capabilities: []crm.Capability{crm.CapReassign}}
	for _, tc := range []struct {
		name     string
		role     crm.Role
		settings crm.Settings
		want     string
	}{
		{"Admin", admin, crm.DefaultSettings(), ""},
		{"Manager", manager, crm.DefaultSettings(), ""},
		{"CustomRoleWithCapability", custom, crm.DefaultSettings(), ""},
		{"Member", member, crm.DefaultSettings(), "reassign_not_allowed"},
		{"AssignmentOff", admin, settings(false, crm.AssignByOwners), "assignment_disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(access.CheckBulkReassign(principal(tc.role, tc.settings))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func code(err error) string {
	if err == nil {
		return ""
	}
	e, _ := crm.AsError(err)
	return e.Code
}

func TestConditionTree(t *testing.T) {
	p := access.BasePolicy(crm.DefaultSettings(), member)
	c := access.Compile(p, access.Subject{UserID: "U1"}, sdk.ActionEdit, sdk.TypeLead, time.Now())
	got, _ := json.Marshal(c.Condition())
	want := `{"args":[{"kind":"owner_self","origin":"base","user":"U1"},{"kind":"unowned","origin":"base"}],"op":"or"}`
	if c.Kind != access.FilterConditional || string(got) != want {
		t.Fatalf("got %s %s, want %s", c.Kind, got, want)
	}
	view := access.Compile(p, access.Subject{UserID: "U1"}, sdk.ActionView, sdk.TypeLead, time.Now())
	if got, _ := json.Marshal(view.Condition()); view.Kind != access.FilterAll || string(got) != `{"op":"true"}` {
		t.Fatalf("view: %s %s", view.Kind, got)
	}
}

func TestSuspendGrants(t *testing.T) {
	granted := func(sources ...string) sdk.Cond { return sdk.Cond{Kind: sdk.CondGranted, Sources: sources} }
	var p sdk.Policy
	p.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, granted("sharing", "delegation")}})
	p.SetRule(sdk.TypeLead, sdk.ActionEdit, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, granted("delegation")}})
	p.SetRule(sdk.TypeContact, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone}}, All: []sdk.Cond{granted("delegation")}})
	got := access.SuspendGrants(p, func(s string) bool { return s == "sharing" })

	user, other := "01J00000000000000000000001", "01J00000000000000000000002"
	lead := access.Facts{Type: sdk.TypeLead, ID: "01J00000000000000000000003", OwnerID: other, Grants: []access.GrantFact{
		{SubjectType: access.SubjectUser, SubjectID: user, Actions: []sdk.Action{sdk.ActionView, sdk.ActionEdit}, Source: "delegation"},
	}}
	contact := lead
	contact.Type = sdk.TypeContact
	now := time.Now()
	s := access.Subject{UserID: user}
	for _, c := range []struct {
		name   string
		policy sdk.Policy
		action sdk.Action
		f      access.Facts
		want   bool
	}{
		{"ActiveDelegationViews", p, sdk.ActionView, lead, true},
		{"SuspendedDelegationDoesNotView", got, sdk.ActionView, lead, false},
		{"SuspendedDelegationDoesNotEdit", got, sdk.ActionEdit, lead, false},
		{"ARequiredGrantOfASuspendedPluginAllowsNothing", got, sdk.ActionView, contact, false},
	} {
		if d := access.Evaluate(c.policy, s, c.action, c.f, now); d.Allowed != c.want {
			t.Errorf("%s: allowed %v, want %v", c.name, d.Allowed, c.want)
		}
	}
	if srcs := got.Rule(sdk.TypeLead, sdk.ActionView).Any[1].Sources; len(srcs) != 1 || srcs[0] != "sharing" {
		t.Errorf("the active source was lost: %v", srcs)
	}
	if r := got.Rule(sdk.TypeContact, sdk.ActionView); len(r.Any) != 0 {
		t.Errorf("a rule needing a suspended grant still allows: %+v", r)
	}
	// The policy it was given is untouched.
	if len(p.Rule(sdk.TypeLead, sdk.ActionEdit).Any) != 2 {
		t.Error("the input was changed")
	}
}
