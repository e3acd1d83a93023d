package access_test

import (
	"slices"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

func TestBasePolicyAdd(t *testing.T) {
	leadsOnly := crm.Role{Name: "lead-hunter", Add: []crm.RecordType{crm.TypeLead}}
	nothing := crm.Role{Name: "reader", Add: []crm.RecordType{}}
	adminAddingNothing := crm.Role{Name: "boss", Capabilities: []crm.Capability{crm.CapAdmin}, Add: []crm.RecordType{}}
	for _, tc := range []struct {
		name string
		role crm.Role
		want []crm.RecordType
	}{
		{"BuiltInMemberAddsEveryType", member, crm.RecordTypes},
		{"BuiltInManagerAddsEveryType", manager, crm.RecordTypes},
		{"ListNamesTheTypes", leadsOnly, []crm.RecordType{crm.TypeLead}},
		{"EmptyListAddsNone", nothing, []crm.RecordType{}},
		{"AdminsAlwaysAdd", adminAddingNothing, crm.RecordTypes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := access.Subject{UserID: "U1"}
			p := access.BasePolicy(crm.DefaultSettings(), tc.role)
			if got := access.MayAdd(p, s, time.Now()); !slices.Equal(got, tc.want) {
				t.Fatalf("may add %v, want %v", got, tc.want)
			}
			for _, typ := range crm.RecordTypes {
				if p.Admin {
					continue
				}
				// A role that may not add a type has the empty rule:
				// nothing a plugin adds to Any by mistake can hold.
				if r := p.Rule(typ, sdk.ActionAdd); (len(r.Any) > 0) != slices.Contains(tc.want, typ) {
					t.Errorf("%s: add rule %+v", typ, r)
				}
			}
		})
	}
}

// TestAddDecidesTheProposedRecord: conditions of an add rule are about the
// record as proposed (owner, creator, team, parent), and a grant never
// gives add to a record that does not exist yet.
func TestAddDecidesTheProposedRecord(t *testing.T) {
	const user, other = "U1", "U2"
	var p sdk.Policy
	p.SetRule(sdk.TypeLead, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondCreatorUnowned}}})
	p.SetRule(sdk.TypeContact, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone}}, All: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{"T1"}}}})
	p.SetRule(sdk.TypeAccount, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}}})
	p.SetRule(sdk.TypeActivity, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondParentAllows, Depth: 1}}})
	p.SetRule(sdk.TypeOpportunity, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondGranted, Sources: []string{"sharing"}}}})
	s := access.Subject{UserID: user, Teams: []string{"T1"}}
	ownAccount := access.Facts{Type: sdk.TypeAccount, ID: "A1", OwnerID: user, CreatedBy: other}
	othersAccount := access.Facts{Type: sdk.TypeAccount, ID: "A2", OwnerID: other, CreatedBy: other}
	for _, tc := range []struct {
		name string
		f    access.Facts
		want bool
	}{
		{"OwnLead", access.Facts{Type: sdk.TypeLead, OwnerID: user, CreatedBy: user}, true},
		{"UnassignedLeadOfItsCreator", access.NewRecord(sdk.TypeLead, s), true},
		{"LeadForAnother", access.Facts{Type: sdk.TypeLead, OwnerID: other, CreatedBy: user}, false},
		{"ContactInOwnTeam", access.Facts{Type: sdk.TypeContact, CreatedBy: user, TeamID: "T1"}, true},
		{"ContactInAnotherTeam", access.Facts{Type: sdk.TypeContact, CreatedBy: user, TeamID: "T2"}, false},
		{"ContactWithoutTeam", access.NewRecord(sdk.TypeContact, s), false},
		{"ActivityUnderAnAccountOneMayAdd", access.Facts{Type: sdk.TypeActivity, CreatedBy: user, Parent: &ownAccount}, true},
		{"ActivityUnderAnotherAccount", access.Facts{Type: sdk.TypeActivity, CreatedBy: user, Parent: &othersAccount}, false},
		{"ActivityWithoutParent", access.NewRecord(sdk.TypeActivity, s), false},
		{"GrantsNeverGiveAdd", access.NewRecord(sdk.TypeOpportunity, s), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := access.Evaluate(p, s, sdk.ActionAdd, tc.f, time.Now())
			if d.Allowed != tc.want {
				t.Fatalf("allowed %v (%s), want %v", d.Allowed, d.Reason.Text(), tc.want)
			}
			if d.Reason.Action != sdk.ActionAdd || d.Reason.Type != tc.f.Type {
				t.Fatalf("the reason names %s %s", d.Reason.Type, d.Reason.Action)
			}
		})
	}
	if got := access.MayAdd(p, s, time.Now()); !slices.Equal(got, []crm.RecordType{crm.TypeLead}) {
		t.Fatalf("may add, with nothing proposed: %v", got)
	}
}

// TestAddIsNoPartOfOtherActions: the add rule neither gives nor takes
// any other action, and another action's rule does not give add.
func TestAddIsNoPartOfOtherActions(t *testing.T) {
	var p sdk.Policy
	for _, a := range crm.Actions {
		if a != sdk.ActionAdd {
			p.SetRule(sdk.TypeLead, a, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone}}})
		}
	}
	s := access.Subject{UserID: "U1"}
	f := access.NewRecord(sdk.TypeLead, s)
	if access.Evaluate(p, s, sdk.ActionAdd, f, time.Now()).Allowed {
		t.Fatal("every other action allowed gives add")
	}
	p.SetRule(sdk.TypeLead, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone}}})
	p.SetRule(sdk.TypeLead, sdk.ActionEdit, sdk.Rule{})
	if access.Evaluate(p, s, sdk.ActionEdit, f, time.Now()).Allowed || access.Evaluate(p, s, sdk.ActionDelete, f, time.Now()).Allowed {
		t.Fatal("add gives edit or delete")
	}
}
