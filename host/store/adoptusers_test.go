package store_test

import (
	"context"
	"errors"
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
