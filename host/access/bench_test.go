package access_test

import (
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/sdk"
)

// benchPolicy is a strict-ownership-like policy with team isolation: a
// typical plugin-shaped document.
func benchPolicy() (sdk.Policy, access.Subject) {
	var p sdk.Policy
	for _, typ := range sdk.RecordTypes {
		for _, a := range sdk.Actions {
			p.SetRule(typ, a, sdk.Rule{
				Any: []sdk.Cond{
					{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondCreatorSelf},
					{Kind: sdk.CondOwnerIn, Users: []string{"U2", "U3", "U4"}},
					{Kind: sdk.CondGranted, Sources: []string{"strict-ownership", "delegation"}},
					{Kind: sdk.CondParentAllows, Depth: 1},
				},
				All: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{"T1", "T2"}}},
			})
		}
	}
	return p, access.Subject{UserID: "U1", Teams: []string{"T1"}}
}

func BenchmarkEvaluate(b *testing.B) {
	p, s := benchPolicy()
	now := time.Now()
	exp := now.Add(time.Hour)
	f := access.Facts{
		Type: sdk.TypeContact, ID: "R1", OwnerID: "U9", CreatedBy: "U8", TeamID: "T1",
		Grants: []access.GrantFact{{SubjectType: access.SubjectTeam, SubjectID: "T1", Actions: []sdk.Action{sdk.ActionView}, Source: "delegation", ExpiresAt: &exp}},
		Parent: &access.Facts{Type: sdk.TypeAccount, ID: "R0", OwnerID: "U1", CreatedBy: "U1", TeamID: "T1"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if !access.Evaluate(p, s, sdk.ActionView, f, now).Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	p, s := benchPolicy()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if c := access.Compile(p, s, sdk.ActionEdit, sdk.TypeActivity, now); c.Kind != access.FilterConditional {
			b.Fatal(c.Kind)
		}
	}
}
