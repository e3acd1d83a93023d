package service_test

import (
	"context"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func TestAssignToStory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		lead := w.create(t, w.alice, crm.TypeLead, "Road Runner", w.alice.User.ID, nil)

		t.Run("EveryoneSeesIt", func(t *testing.T) {
			got, err := w.svc.GetRecord(ctx, w.bob, crm.TypeLead, lead.ID)
			if err != nil || got.OwnerID != w.alice.User.ID {
				t.Fatalf("bob's get: %+v, %v", got, err)
			}
			list, _, err := w.svc.ListRecords(ctx, w.bob, crm.TypeLead, service.ListOptions{})
			if err != nil || ids(list) != lead.ID {
				t.Fatalf("bob's list: %v, %v", ids(list), err)
			}
		})
		t.Run("OnlyAssigneeOrAdminEdits", func(t *testing.T) {
			_, err := w.svc.UpdateRecord(ctx, w.bob, crm.TypeLead, lead.ID, rename("bob was here"), 0)
			wantCode(t, err, "not_owner")
			_, err = w.svc.UpdateRecord(ctx, w.carol, crm.TypeLead, lead.ID, rename("carol was here"), 0)
			wantCode(t, err, "not_owner")
			wantCode(t, w.svc.DeleteRecord(ctx, w.bob, crm.TypeLead, lead.ID, 0), "not_owner")
			got, err := w.svc.UpdateRecord(ctx, w.admin, crm.TypeLead, lead.ID, rename("Road Runner Inc"), 0)
			if err != nil || got.Version != 2 || got.Name() != "Road Runner Inc" {
				t.Fatalf("admin's edit: %+v, %v", got, err)
			}
			got, err = w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("Road Runner LLC"), 0)
			if err != nil || got.Version != 3 {
				t.Fatalf("alice's edit: %+v, %v", got, err)
			}
		})
		t.Run("UnassignedIsOpen", func(t *testing.T) {
			open := w.create(t, w.alice, crm.TypeLead, "Open lead", "", nil)
			if _, err := w.svc.UpdateRecord(ctx, w.bob, crm.TypeLead, open.ID, rename("bob's now"), 0); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("StaleIfMatch", func(t *testing.T) {
			cur, _ := w.svc.GetRecord(ctx, w.alice, crm.TypeLead, lead.ID)
			if _, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("first"), cur.Version); err != nil {
				t.Fatal(err)
			}
			_, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("second"), cur.Version)
			wantCode(t, err, "version_mismatch")
			got, _ := w.svc.GetRecord(ctx, w.alice, crm.TypeLead, lead.ID)
			if got.Name() != "first" || got.Version != cur.Version+1 {
				t.Fatalf("a stale write changed the record: %+v", got)
			}
			wantCode(t, w.svc.DeleteRecord(ctx, w.alice, crm.TypeLead, lead.ID, cur.Version), "version_mismatch")
		})
		t.Run("OtherInstallSeesNothing", func(t *testing.T) {
			_, err := w.svc.GetRecord(ctx, w.mallory, crm.TypeLead, lead.ID)
			if err != crm.ErrRecordNotFound {
				t.Fatalf("got %v, want the not-found answer", err)
			}
			missing := crm.NewID()
			_, errMissing := w.svc.GetRecord(ctx, w.mallory, crm.TypeLead, missing)
			if errMissing != err {
				t.Fatal("another install's record is answered differently from a missing one")
			}
			for _, o := range []service.ListOptions{{}, {Query: "Road"}, {Owner: w.alice.User.ID}} {
				list, _, err := w.svc.ListRecords(ctx, w.mallory, crm.TypeLead, o)
				if err != nil || len(list) != 0 {
					t.Fatalf("list %+v from another install: %v, %v", o, ids(list), err)
				}
			}
			_, err = w.svc.UpdateRecord(ctx, w.mallory, crm.TypeLead, lead.ID, rename("pwned"), 0)
			wantCode(t, err, "not_found")
			_, err = w.svc.AssignRecord(ctx, w.mallory, crm.TypeLead, lead.ID, w.mallory.User.ID, 0)
			wantCode(t, err, "not_found")
			wantCode(t, w.svc.DeleteRecord(ctx, w.mallory, crm.TypeLead, lead.ID, 0), "not_found")
			_, err = w.svc.RelatedRecords(ctx, w.mallory, crm.TypeLead, lead.ID, "", service.ListOptions{})
			wantCode(t, err, "not_found")
			_, err = w.svc.RecordAccess(ctx, w.mallory, crm.TypeLead, lead.ID, service.ListOptions{})
			wantCode(t, err, "not_found")
		})
	})
}

func TestAssignment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		setAssignBy := func(by crm.AssignBy, enabled bool) {
			t.Helper()
			if _, err := w.svc.UpdateSettings(ctx, w.admin, service.SettingsChange{AssignBy: &by, AssignmentEnabled: &enabled}); err != nil {
				t.Fatal(err)
			}
			// Principals carry the settings they were authenticated with.
			for _, p := range []*crm.Principal{&w.admin, &w.alice, &w.bob, &w.carol} {
				p.Install.Settings = crm.Settings{AssignBy: by, AssignmentEnabled: enabled}
			}
		}
		lead := w.create(t, w.alice, crm.TypeLead, "Lead", w.alice.User.ID, nil)

		t.Run("OwnersHandOver", func(t *testing.T) {
			_, err := w.svc.AssignRecord(ctx, w.bob, crm.TypeLead, lead.ID, w.bob.User.ID, 0)
			wantCode(t, err, "not_owner")
			got, err := w.svc.AssignRecord(ctx, w.alice, crm.TypeLead, lead.ID, w.bob.User.ID, 0)
			if err != nil || got.OwnerID != w.bob.User.ID {
				t.Fatalf("%+v, %v", got, err)
			}
		})
		t.Run("AuditSaysWhoWhenFromTo", func(t *testing.T) {
			h, err := w.svc.RecordAccess(ctx, w.carol, crm.TypeLead, lead.ID, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var assigns []crm.AuditEvent
			for _, e := range h.History {
				if e.Action == crm.AuditRecordAssign {
					assigns = append(assigns, e)
				}
			}
			if len(assigns) != 2 {
				t.Fatalf("got %d assign events, want 2 (at creation and the hand-over): %+v", len(assigns), h.History)
			}
			last := assigns[1]
			if last.ActorID != w.alice.User.ID || last.Detail["from"] != w.alice.User.ID || last.Detail["to"] != w.bob.User.ID || last.At.IsZero() {
				t.Fatalf("hand-over audited as %+v", last)
			}
		})
		t.Run("AdminsOnly", func(t *testing.T) {
			setAssignBy(crm.AssignByAdmins, true)
			_, err := w.svc.AssignRecord(ctx, w.bob, crm.TypeLead, lead.ID, w.alice.User.ID, 0)
			wantCode(t, err, "assign_not_allowed")
			_, err = w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "x"}, OwnerID: w.alice.User.ID})
			wantCode(t, err, "assign_not_allowed")
			if _, err := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, lead.ID, w.alice.User.ID, 0); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("Everyone", func(t *testing.T) {
			setAssignBy(crm.AssignByEveryone, true)
			if _, err := w.svc.AssignRecord(ctx, w.bob, crm.TypeLead, lead.ID, w.bob.User.ID, 0); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("TurnedOff", func(t *testing.T) {
			setAssignBy(crm.AssignByEveryone, false)
			_, err := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, lead.ID, w.alice.User.ID, 0)
			wantCode(t, err, "assignment_disabled")
			// With assignment off, owners restrict nothing.
			if _, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("alice edits bob's"), 0); err != nil {
				t.Fatal(err)
			}
			_, err = w.svc.Reassign(ctx, w.carol, crm.TypeLead, w.bob.User.ID, w.alice.User.ID)
			wantCode(t, err, "assignment_disabled")
		})
		t.Run("OwnerMustBeOfTheInstall", func(t *testing.T) {
			setAssignBy(crm.AssignByOwners, true)
			_, err := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, lead.ID, w.mallory.User.ID, 0)
			wantCode(t, err, "unknown_user")
			_, err = w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, lead.ID, "not-an-id", 0)
			wantCode(t, err, "invalid_id")
		})
	})
}

func TestBulkReassign(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		for i := range 3 {
			w.create(t, w.alice, crm.TypeLead, "lead "+string(rune('a'+i)), w.alice.User.ID, nil)
		}
		other := w.create(t, w.alice, crm.TypeContact, "contact", w.alice.User.ID, nil)

		_, err := w.svc.Reassign(ctx, w.bob, crm.TypeLead, w.alice.User.ID, w.bob.User.ID)
		wantCode(t, err, "reassign_not_allowed")
		_, err = w.svc.Reassign(ctx, w.carol, crm.TypeLead, w.alice.User.ID, w.mallory.User.ID)
		wantCode(t, err, "unknown_user")

		n, err := w.svc.Reassign(ctx, w.carol, crm.TypeLead, w.alice.User.ID, w.bob.User.ID)
		if err != nil || n != 3 {
			t.Fatalf("reassigned %d, %v; want 3", n, err)
		}
		bobs, _, err := w.svc.ListRecords(ctx, w.bob, crm.TypeLead, service.ListOptions{Owner: "me"})
		if err != nil || len(bobs) != 3 {
			t.Fatalf("bob owns %d leads, %v", len(bobs), err)
		}
		for _, r := range bobs {
			h, err := w.svc.RecordAccess(ctx, w.bob, crm.TypeLead, r.ID, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			last := h.History[len(h.History)-1]
			if last.Action != crm.AuditRecordAssign || last.ActorID != w.carol.User.ID || last.Detail["to"] != w.bob.User.ID {
				t.Fatalf("bulk change of %s audited as %+v", r.ID, last)
			}
		}
		got, _ := w.svc.GetRecord(ctx, w.alice, crm.TypeContact, other.ID)
		if got.OwnerID != w.alice.User.ID {
			t.Fatal("a reassignment of leads moved a contact")
		}
	})
}
