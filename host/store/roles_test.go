package store_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestRoleAddTypes: the record types a role may add are kept apart from
// "every type" (nil) and "none" (empty), through creation, change, the
// role's reads and the principal a token finds.
func TestRoleAddTypes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		roles, err := db.ListRoles(ctx, f.install.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range roles {
			if r.Add != nil {
				t.Fatalf("built-in role %s adds %v, want every type (nil)", r.Name, r.Add)
			}
		}
		for _, tc := range []struct {
			name, role string
			add        []crm.RecordType
		}{
			{"Some", "closer", []crm.RecordType{crm.TypeLead, crm.TypeContact}},
			{"None", "reader", []crm.RecordType{}},
			{"Every", "writer", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := tc.role
				if err := db.CreateRole(ctx, f.install.ID, crm.Role{Name: name, Capabilities: []crm.Capability{}, Add: tc.add}); err != nil {
					t.Fatal(err)
				}
				got, err := db.Role(ctx, f.install.ID, name)
				if err != nil {
					t.Fatal(err)
				}
				if (got.Add == nil) != (tc.add == nil) || !slices.Equal(got.Add, tc.add) {
					t.Fatalf("created: add %#v, want %#v", got.Add, tc.add)
				}
				// A change to another list, and back.
				changed := crm.Role{Name: name, Capabilities: []crm.Capability{}, Add: []crm.RecordType{crm.TypeActivity}}
				if err := db.UpdateRole(ctx, f.install.ID, changed); err != nil {
					t.Fatal(err)
				}
				if got, _ := db.Role(ctx, f.install.ID, name); !slices.Equal(got.Add, changed.Add) {
					t.Fatalf("changed: add %#v", got.Add)
				}
				if err := db.UpdateRole(ctx, f.install.ID, crm.Role{Name: name, Capabilities: []crm.Capability{}, Add: tc.add}); err != nil {
					t.Fatal(err)
				}
				u := mustUser(t, db, f.install.ID, name+"@acme.test", name, "")
				hash := sha256.Sum256([]byte(name))
				if err := db.CreateToken(ctx, crm.Token{ID: crm.NewID(), InstallID: f.install.ID, UserID: u.ID, Label: "t", CreatedAt: t0}, hash[:]); err != nil {
					t.Fatal(err)
				}
				p, _, err := db.PrincipalByTokenHash(ctx, hash[:])
				if err != nil {
					t.Fatal(err)
				}
				if (p.Role.Add == nil) != (tc.add == nil) || !slices.Equal(p.Role.Add, tc.add) {
					t.Fatalf("the token's principal: add %#v, want %#v", p.Role.Add, tc.add)
				}
			})
		}
	})
}
