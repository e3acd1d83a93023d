package service

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// BenchmarkComputePolicy measures a cold policy computation — what a
// request pays when a user's effective permissions are not cached — for a
// member of three teams, on each store.
func BenchmarkComputePolicy(b *testing.B) {
	for _, st := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"mysql", storetest.MySQL}} {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			svc, err := New(st.open(b))
			if err != nil {
				b.Fatal(err)
			}
			in, err := svc.CreateInstall(ctx, "acme", "")
			if err != nil {
				b.Fatal(err)
			}
			principal := func(email, role string) crm.Principal {
				u, err := svc.AddUser(ctx, in, NewUser{Email: email, Role: role})
				if err != nil {
					b.Fatal(err)
				}
				p, err := svc.PrincipalFor(ctx, in, u)
				if err != nil {
					b.Fatal(err)
				}
				return p
			}
			admin, bob := principal("admin@acme.test", crm.RoleAdmin), principal("bob@acme.test", crm.RoleMember)
			for i := range 3 {
				team, err := svc.CreateTeam(ctx, admin, fmt.Sprint("team ", i))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := svc.SetTeamMembers(ctx, admin, team.ID, []crm.Membership{{UserID: bob.User.ID}}); err != nil {
					b.Fatal(err)
				}
			}
			se, err := svc.begin(ctx, bob, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				e, err := se.computePolicy(ctx, bob)
				if err != nil || len(e.Teams) != 3 {
					b.Fatalf("%d teams, %v", len(e.Teams), err)
				}
			}
		})
	}
}
