package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// Copies of a CRM's users are written by id: a copy whose e-mail another
// user's copy holds is refused, and the other copy is left as it was.
func TestPutSyncedUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		in := mustInstall(t, db, "acme")
		alice := store.SyncedUser{User: crm.User{ID: "2", InstallID: in.ID, Email: "alice@wp.test", Name: "Alice", Role: crm.RoleMember, CreatedAt: t0}}
		if err := db.PutSyncedUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		alice.Name, alice.Disabled = "Alice Ames", true
		if err := db.PutSyncedUser(ctx, alice); err != nil { // a second copy updates
			t.Fatal(err)
		}
		newcomer := store.SyncedUser{User: crm.User{ID: "4", InstallID: in.ID, Email: "alice@wp.test", Name: "Newcomer", Role: crm.RoleMember, CreatedAt: t0}}
		if err := db.PutSyncedUser(ctx, newcomer); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("a new copy with a taken address: %v, want ErrDuplicate", err)
		}
		copies, err := db.SyncedUsers(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := copies["2"]; got.Name != "Alice Ames" || !got.Disabled || got.Email != "alice@wp.test" || len(copies) != 1 {
			t.Errorf("copies after the refused one: %+v", copies)
		}
	})
}

// The role peers of an adopted CRM's users are found among their copies,
// disabled ones included: a departed colleague's records stay with the
// role until someone reassigns them.
func TestRolePeersOfSyncedUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		in := mustInstall(t, db, "acme")
		for _, u := range []store.SyncedUser{
			{User: crm.User{ID: "2", Email: "alice@wp.test", Role: crm.RoleMember}},
			{User: crm.User{ID: "3", Email: "bob@wp.test", Role: crm.RoleMember, Disabled: true}},
			{User: crm.User{ID: "10", Email: "carol@wp.test", Role: crm.RoleMember}},
			{User: crm.User{ID: "1", Email: "root@wp.test", Role: crm.RoleAdmin}},
		} {
			u.InstallID, u.Name, u.CreatedAt = in.ID, u.Email, t0
			if err := db.PutSyncedUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.RolePeers(ctx, in.ID, crm.RoleMember, "2")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"10", "3"}; !slices.Equal(got, want) {
			t.Fatalf("role peers of 2: %v, want %v", got, want)
		}
	})
}
