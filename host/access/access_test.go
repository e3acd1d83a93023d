package access_test

import (
	"testing"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
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

func record(owner string) crm.Record {
	return crm.Record{ID: "R1", InstallID: "I1", Type: crm.TypeLead, OwnerID: owner, CreatedBy: "U9"}
}

func code(err error) string {
	if err == nil {
		return ""
	}
	e, _ := crm.AsError(err)
	return e.Code
}

func TestCheckEdit(t *testing.T) {
	on := settings(true, crm.AssignByOwners)
	for _, tc := range []struct {
		name     string
		role     crm.Role
		settings crm.Settings
		owner    string
		want     string
	}{
		{"AssigneeEdits", member, on, "U1", ""},
		{"OtherMemberIsNotOwner", member, on, "U2", "not_owner"},
		{"ManagerIsNotOwner", manager, on, "U2", "not_owner"},
		{"AdminEditsAnything", admin, on, "U2", ""},
		{"UnassignedIsEditableByAnyone", member, on, "", ""},
		{"AssignmentOffEveryoneEdits", member, settings(false, crm.AssignByOwners), "U2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := principal(tc.role, tc.settings)
			if got := code(access.CheckEdit(p, record(tc.owner))); got != tc.want {
				t.Errorf("edit: got %q, want %q", got, tc.want)
			}
			// Deleting needs the right to edit, never more or less.
			if got := code(access.CheckDelete(p, record(tc.owner))); got != tc.want {
				t.Errorf("delete: got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckAssign(t *testing.T) {
	for _, tc := range []struct {
		name     string
		role     crm.Role
		settings crm.Settings
		owner    string
		want     string
	}{
		{"OwnersAssigneeHandsOver", member, settings(true, crm.AssignByOwners), "U1", ""},
		{"OwnersAnyoneClaimsUnassigned", member, settings(true, crm.AssignByOwners), "", ""},
		{"OwnersOthersRecordRefused", member, settings(true, crm.AssignByOwners), "U2", "not_owner"},
		{"OwnersAdmin", admin, settings(true, crm.AssignByOwners), "U2", ""},
		{"AdminsMemberRefused", member, settings(true, crm.AssignByAdmins), "U1", "assign_not_allowed"},
		{"AdminsManagerRefused", manager, settings(true, crm.AssignByAdmins), "", "assign_not_allowed"},
		{"AdminsAdmin", admin, settings(true, crm.AssignByAdmins), "U2", ""},
		{"EveryoneMemberReassignsOthers", member, settings(true, crm.AssignByEveryone), "U2", ""},
		{"DisabledEvenAdmin", admin, settings(false, crm.AssignByEveryone), "", "assignment_disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(access.CheckAssign(principal(tc.role, tc.settings), record(tc.owner))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
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

func TestCanViewStaysInInstall(t *testing.T) {
	p := principal(admin, crm.DefaultSettings())
	if !access.CanView(p, record("U2")) {
		t.Error("a record of the install is hidden")
	}
	foreign := record("")
	foreign.InstallID = "I2"
	if access.CanView(p, foreign) {
		t.Error("an admin sees a record of another install")
	}
}

// TestEditFilterAgreesWithCheckEdit checks that the list filter states the
// same rule as the single-record check, for every kind of owner.
func TestEditFilterAgreesWithCheckEdit(t *testing.T) {
	for _, role := range []crm.Role{admin, manager, member} {
		for _, s := range []crm.Settings{settings(true, crm.AssignByOwners), settings(false, crm.AssignByOwners)} {
			p := principal(role, s)
			f := access.EditFilter(p)
			for _, owner := range []string{"", "U1", "U2"} {
				want := access.CheckEdit(p, record(owner)) == nil
				got := f.All || evalEditSQL(t, f, owner)
				if got != want {
					t.Errorf("role %s, settings %+v, owner %q: filter says %v, check says %v", role.Name, s, owner, got, want)
				}
			}
		}
	}
}

// evalEditSQL evaluates the only predicate EditFilter produces; a new shape
// fails the test so that it gets a real evaluation here.
func evalEditSQL(t *testing.T, f access.Filter, owner string) bool {
	t.Helper()
	if f.SQL != "r.owner_id IS NULL OR r.owner_id = ?" || len(f.Args) != 1 {
		t.Fatalf("unexpected predicate %q %v", f.SQL, f.Args)
	}
	return owner == "" || owner == f.Args[0]
}
