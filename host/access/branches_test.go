package access_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/sdk"
)

// managerPolicy is strict-ownership's policy for a manager of n reports
// whose view and edit scopes are both "reports".
func managerPolicy(n int) (sdk.Policy, access.Subject) {
	var reports []string
	for i := range n {
		reports = append(reports, fmt.Sprintf("R%02d", i))
	}
	scope := sdk.Rule{Any: []sdk.Cond{
		{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondCreatorUnowned}, {Kind: sdk.CondOwnerIn, Users: reports},
		{Kind: sdk.CondGranted, Sources: []string{"strict-ownership"}},
	}}
	var p sdk.Policy
	for _, a := range []sdk.Action{sdk.ActionView, sdk.ActionEdit} {
		p.SetRule(sdk.TypeLead, a, scope)
	}
	return p, access.Subject{UserID: "M1"}
}

func TestListBranches(t *testing.T) {
	t.Run("ViewAndEditOverTheSameReportsMakeOneBranchEach", func(t *testing.T) {
		p, s := managerPolicy(50)
		for _, a := range []sdk.Action{sdk.ActionView, sdk.ActionEdit} {
			kind, parts := access.ListBranches(p, s, a, sdk.TypeLead, time.Now())
			if kind != access.FilterConditional || len(parts) != 53 {
				t.Fatalf("%s: %s with %d branches, want 53", a, kind, len(parts))
			}
			for _, c := range parts {
				if strings.Contains(c.SQL, " AND r.owner_id = ") || strings.Contains(c.SQL, " IN (") {
					t.Fatalf("%s: a branch kept what another makes redundant: %s", a, c.SQL)
				}
			}
			if parts[0].Index != "owner_id" || parts[2].Index != "owner_id" {
				t.Fatalf("%s: branches led by %q and %q, want the owner index", a, parts[0].Index, parts[2].Index)
			}
		}
	})
	t.Run("TeamConstraintSplitsEveryoneAndNarrowsTheRest", func(t *testing.T) {
		teams := sdk.Cond{Kind: sdk.CondTeamIn, Teams: []string{"T1", "T2"}, Unteamed: true}
		own := []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondUnowned}}
		var p sdk.Policy
		p.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone}}, All: []sdk.Cond{teams}})
		p.SetRule(sdk.TypeLead, sdk.ActionEdit, sdk.Rule{Any: own, All: []sdk.Cond{teams}})
		s := access.Subject{UserID: "U1", Teams: []string{"T1", "T2"}}
		// Everyone's records of two teams and the unteamed: one branch
		// per team, each on the team index.
		_, parts := access.ListBranches(p, s, sdk.ActionView, sdk.TypeLead, time.Now())
		if len(parts) != 3 {
			t.Fatalf("view: %d branches, want 3 (T1, T2, no team)", len(parts))
		}
		for _, c := range parts {
			if c.Index != "team_id" || strings.Contains(c.SQL, " OR ") {
				t.Fatalf("view: a branch not on one team (index %q): %s", c.Index, c.SQL)
			}
		}
		// Own and unowned records of those teams: the owner index leads,
		// the teams narrow each branch whole.
		_, parts = access.ListBranches(p, s, sdk.ActionEdit, sdk.TypeLead, time.Now())
		if len(parts) != 2 {
			t.Fatalf("edit: %d branches, want 2 (own, unowned)", len(parts))
		}
		for _, c := range parts {
			if c.Index != "owner_id" || !strings.Contains(c.SQL, "r.team_id IN (?, ?) OR r.team_id IS NULL") {
				t.Fatalf("edit: a branch not led by the owner index (%q) or without the teams whole: %s", c.Index, c.SQL)
			}
		}
	})
	t.Run("TooManyBranchesNarrowWhole", func(t *testing.T) {
		p, s := managerPolicy(50)
		// Editing only owned records of a team: view's 53 branches, each
		// narrowed by the edit rule's condition.
		p.SetRule(sdk.TypeLead, sdk.ActionEdit, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerIn, Users: []string{"R01", "R02", "R03"}}, {Kind: sdk.CondUnowned}},
			All: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{"T1", "T2"}}}})
		kind, parts := access.ListBranches(p, s, sdk.ActionEdit, sdk.TypeLead, time.Now())
		if kind != access.FilterConditional || len(parts) == 0 || len(parts) > 64 {
			t.Fatalf("%s with %d branches", kind, len(parts))
		}
		// The teams, split, would double the branches past the bound: they
		// narrow each branch as one condition instead.
		for _, c := range parts {
			if !strings.Contains(c.SQL, "r.team_id IN (?, ?)") {
				t.Fatalf("a branch without the team constraint whole: %s", c.SQL)
			}
		}
	})
}

func BenchmarkListBranches(b *testing.B) {
	p, s := managerPolicy(50)
	now := time.Now()
	for _, a := range []sdk.Action{sdk.ActionView, sdk.ActionEdit} {
		b.Run(string(a), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, parts := access.ListBranches(p, s, a, sdk.TypeLead, now); len(parts) != 53 {
					b.Fatal(len(parts))
				}
			}
		})
	}
}
