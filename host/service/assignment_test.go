package service_test

import (
	"context"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
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
			// A manager may reassign in bulk, but not what they may not
			// assign one by one: another's lead, while owners assign.
			wantBulk(t, w, w.carol, w.alice, w.bob, 0, lead.ID, "not_owner")
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
			wantBulk(t, w, w.carol, w.alice, w.bob, 0, lead.ID, "assign_not_allowed")
		})
		t.Run("Everyone", func(t *testing.T) {
			setAssignBy(crm.AssignByEveryone, true)
			wantBulk(t, w, w.carol, w.alice, w.bob, 1, "", "")
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

// wantBulk has by reassign from's leads to to in bulk, and checks that n
// moved and that the lead refused, if any, is refused with code, as its
// Assign To by the same user is: same code, same message.
func wantBulk(t *testing.T, w world, by, from, to crm.Principal, n int, refused, code string) {
	t.Helper()
	ctx := context.Background()
	out, err := w.svc.Reassign(ctx, by, crm.TypeLead, from.User.ID, to.User.ID)
	if err != nil || out.Reassigned != n {
		t.Fatalf("reassigned %+v, %v; want %d moved", out, err, n)
	}
	if refused == "" {
		if len(out.Refused) != 0 {
			t.Fatalf("refused %+v, want none", out.Refused)
		}
		return
	}
	_, single := w.svc.AssignRecord(ctx, by, crm.TypeLead, refused, to.User.ID, 0)
	wantCode(t, single, code)
	e, _ := crm.AsError(single)
	if want := []service.RefusedRecord{{ID: refused, Code: e.Code, Message: e.Message}}; !slices.Equal(out.Refused, want) {
		t.Fatalf("refused %+v, want %+v", out.Refused, want)
	}
}

// TestBulkReassign: the bulk reassignment is for roles that may reassign,
// and moves exactly what their Assign To would move: the records they see
// but may not assign stay, named with Assign To's answer; those they may
// not see stay, unnamed.
func TestBulkReassign(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// A manager sees the leads of East and South, and may assign
		// those of East.
		var east, south, west crm.Team
		byTeam := func(_ context.Context, p crm.Principal, pol sdk.Policy) (sdk.Policy, error) {
			if p.Role.Name == crm.RoleManager {
				pol.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{east.ID, south.ID}}}})
				pol.SetRule(sdk.TypeLead, sdk.ActionAssign, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{east.ID}}}})
			}
			return pol, nil
		}
		w := newWorld(t, db, service.WithPolicyFilter(byTeam))
		for name, team := range map[string]*crm.Team{"East": &east, "South": &south, "West": &west} {
			var err error
			if *team, err = w.svc.CreateTeam(ctx, w.admin, name); err != nil {
				t.Fatal(err)
			}
		}
		lead := func(name string, team crm.Team) crm.Record {
			t.Helper()
			r, err := w.svc.CreateRecord(ctx, w.admin, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": name}, OwnerID: w.alice.User.ID, TeamID: team.ID})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		e1, e2, s1, w1 := lead("east 1", east), lead("east 2", east), lead("south", south), lead("west", west)
		other := w.create(t, w.alice, crm.TypeContact, "contact", w.alice.User.ID, nil)
		owners := func() map[string]string {
			out := map[string]string{}
			for _, r := range []crm.Record{e1, e2, s1, w1, other} {
				got, err := w.svc.GetRecord(ctx, w.admin, r.Type, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				out[r.ID] = got.OwnerID
			}
			return out
		}

		t.Run("OnlyForRolesThatMayReassign", func(t *testing.T) {
			_, err := w.svc.Reassign(ctx, w.bob, crm.TypeLead, w.alice.User.ID, w.bob.User.ID)
			wantCode(t, err, "reassign_not_allowed")
		})
		t.Run("UnknownUsersAre400", func(t *testing.T) {
			for _, to := range []string{w.mallory.User.ID, crm.NewID()} {
				_, err := w.svc.Reassign(ctx, w.carol, crm.TypeLead, w.alice.User.ID, to)
				wantCode(t, err, "unknown_user")
			}
			_, err := w.svc.Reassign(ctx, w.carol, crm.TypeLead, crm.NewID(), w.bob.User.ID)
			wantCode(t, err, "unknown_user")
			_, err = w.svc.Reassign(ctx, w.carol, crm.TypeLead, w.alice.User.ID, "not-an-id")
			wantCode(t, err, "invalid_id")
		})
		t.Run("WhatAssignToRefusesStays", func(t *testing.T) {
			_, err := w.svc.AssignRecord(ctx, w.carol, crm.TypeLead, w1.ID, w.bob.User.ID, 0)
			wantCode(t, err, "not_found") // West is hidden from her
			wantBulk(t, w, w.carol, w.alice, w.bob, 2, s1.ID, "not_owner")
			got := owners()
			for id, want := range map[string]string{e1.ID: w.bob.User.ID, e2.ID: w.bob.User.ID, s1.ID: w.alice.User.ID, w1.ID: w.alice.User.ID, other.ID: w.alice.User.ID} {
				if got[id] != want {
					t.Errorf("%s is %s's, want %s's", id, got[id], want)
				}
			}
		})
		t.Run("EachMoveIsAudited", func(t *testing.T) {
			for _, r := range []crm.Record{e1, e2} {
				h, err := w.svc.RecordAccess(ctx, w.admin, crm.TypeLead, r.ID, service.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				last := h.History[len(h.History)-1]
				if last.Action != crm.AuditRecordAssign || last.ActorID != w.carol.User.ID || last.Detail["from"] != w.alice.User.ID ||
					last.Detail["to"] != w.bob.User.ID || last.Detail["bulk"] != true {
					t.Fatalf("bulk change of %s audited as %+v", r.ID, last)
				}
			}
			for _, r := range []crm.Record{s1, w1} {
				h, _ := w.svc.RecordAccess(ctx, w.admin, crm.TypeLead, r.ID, service.ListOptions{})
				if last := h.History[len(h.History)-1]; last.ActorID == w.carol.User.ID {
					t.Fatalf("a record left as it was is audited: %+v", last)
				}
			}
		})
		t.Run("AnAdminMovesAll", func(t *testing.T) {
			out, err := w.svc.Reassign(ctx, w.admin, crm.TypeLead, w.alice.User.ID, "")
			if err != nil || out.Reassigned != 2 || len(out.Refused) != 0 {
				t.Fatalf("admin's reassignment: %+v, %v", out, err)
			}
			if got := owners(); got[s1.ID] != "" || got[w1.ID] != "" || got[other.ID] != w.alice.User.ID {
				t.Fatalf("owners after unassigning alice's leads: %v", got)
			}
			out, err = w.svc.Reassign(ctx, w.admin, crm.TypeLead, w.alice.User.ID, w.bob.User.ID)
			if err != nil || out.Reassigned != 0 || out.Refused == nil || len(out.Refused) != 0 {
				t.Fatalf("reassigning nothing: %+v, %v", out, err)
			}
		})
	})
}
