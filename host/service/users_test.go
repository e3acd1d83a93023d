package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// fresh is the principal of a user as they are now (a principal made
// without a token is taken as it is given).
func fresh(t *testing.T, svc *service.Service, p crm.Principal) crm.Principal {
	t.Helper()
	u, err := svc.User(context.Background(), p, p.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	np, err := svc.PrincipalFor(context.Background(), p.Install, u)
	if err != nil {
		t.Fatal(err)
	}
	return np
}

func TestUpdateUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		alice, bob, carol := w.alice.User.ID, w.bob.User.ID, w.carol.User.ID
		if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "sales-rep"}); err != nil {
			t.Fatal(err)
		}
		update := func(id string, c service.UserChange) (crm.User, error) {
			t.Helper()
			return w.svc.UpdateUser(ctx, w.admin, id, c)
		}

		t.Run("ChangesEachField", func(t *testing.T) {
			u, err := update(alice, service.UserChange{Role: ptr("sales-rep"), ManagerID: ptr(carol), Name: ptr("  Alice Ames "), Disabled: ptr(true)})
			if err != nil {
				t.Fatal(err)
			}
			want := w.alice.User
			want.Role, want.ManagerID, want.Name, want.Disabled = "sales-rep", carol, "Alice Ames", true
			if u != want {
				t.Fatalf("got %+v, want %+v", u, want)
			}
			if got, err := w.svc.User(ctx, w.bob, alice); err != nil || got != want {
				t.Fatalf("read back: %+v, %v", got, err)
			}
			if u, err = update(alice, service.UserChange{ManagerID: ptr(""), Disabled: ptr(false)}); err != nil || u.ManagerID != "" || u.Disabled {
				t.Fatalf("no manager, enabled: %+v, %v", u, err)
			}
		})
		t.Run("NothingToChange", func(t *testing.T) {
			before, err := w.svc.User(ctx, w.admin, bob)
			if err != nil {
				t.Fatal(err)
			}
			events := audit(t, db, w.admin.Install.ID)
			for _, c := range []service.UserChange{{}, {Role: ptr(before.Role), Name: ptr(before.Name), ManagerID: ptr(""), Disabled: ptr(false)}} {
				if u, err := update(bob, c); err != nil || u != before {
					t.Fatalf("%+v: %+v, %v", c, u, err)
				}
			}
			if n := len(audit(t, db, w.admin.Install.ID)); n != len(events) {
				t.Fatalf("%d audit events after changes of nothing, %d before", n, len(events))
			}
		})
		t.Run("Refusals", func(t *testing.T) {
			if _, err := update(bob, service.UserChange{ManagerID: ptr(alice)}); err != nil {
				t.Fatal(err)
			}
			if _, err := update(alice, service.UserChange{ManagerID: ptr(carol)}); err != nil {
				t.Fatal(err)
			}
			disabled, err := w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "gone@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := update(disabled.ID, service.UserChange{Disabled: ptr(true)}); err != nil {
				t.Fatal(err)
			}
			before := listUsers(t, w.svc, w.admin)
			for _, tc := range []struct {
				name string
				p    crm.Principal
				id   string
				c    service.UserChange
				code string
				kind crm.Kind
			}{
				{"NotAnAdmin", w.carol, bob, service.UserChange{Name: ptr("Bob")}, "admin_only", crm.KindForbidden},
				{"UnknownUser", w.admin, crm.NewID(), service.UserChange{Name: ptr("X")}, "unknown_user", crm.KindNotFound},
				{"UserOfAnotherInstall", w.admin, w.mallory.User.ID, service.UserChange{Name: ptr("X")}, "unknown_user", crm.KindNotFound},
				{"BadID", w.admin, "alice", service.UserChange{}, "invalid_id", crm.KindInvalid},
				{"UnknownRole", w.admin, bob, service.UserChange{Role: ptr("closer")}, "unknown_role", crm.KindInvalid},
				{"BadRoleName", w.admin, bob, service.UserChange{Role: ptr("Sales Rep")}, "invalid_role", crm.KindInvalid},
				{"UnknownManager", w.admin, bob, service.UserChange{ManagerID: ptr(crm.NewID())}, "unknown_user", crm.KindInvalid},
				{"ManagerOfAnotherInstall", w.admin, bob, service.UserChange{ManagerID: ptr(w.mallory.User.ID)}, "unknown_user", crm.KindInvalid},
				{"BadManagerID", w.admin, bob, service.UserChange{ManagerID: ptr("carol")}, "invalid_id", crm.KindInvalid},
				{"DisabledManager", w.admin, bob, service.UserChange{ManagerID: ptr(disabled.ID)}, "user_disabled", crm.KindInvalid},
				{"OwnManager", w.admin, bob, service.UserChange{ManagerID: ptr(bob)}, "invalid_manager", crm.KindInvalid},
				{"ManagedByAReport", w.admin, alice, service.UserChange{ManagerID: ptr(bob)}, "invalid_manager", crm.KindInvalid},
				{"ManagedByAReportsReport", w.admin, carol, service.UserChange{ManagerID: ptr(bob)}, "invalid_manager", crm.KindInvalid},
				{"EmptyName", w.admin, bob, service.UserChange{Name: ptr("  ")}, "invalid_name", crm.KindInvalid},
				{"LongName", w.admin, bob, service.UserChange{Name: ptr(strings.Repeat("é", 256))}, "invalid_name", crm.KindInvalid},
				{"ControlInName", w.admin, bob, service.UserChange{Name: ptr("Bob\nSmith")}, "invalid_name", crm.KindInvalid},
				{"NotUTF8Name", w.admin, bob, service.UserChange{Name: ptr("Bob \xff")}, "invalid_name", crm.KindInvalid},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := w.svc.UpdateUser(ctx, tc.p, tc.id, tc.c)
					wantCode(t, err, tc.code)
					if crm.KindOf(err) != tc.kind {
						t.Fatalf("kind %v, want %v", crm.KindOf(err), tc.kind)
					}
					if e, _ := crm.AsError(err); e.Message == "" || strings.Contains(e.Message, "store:") {
						t.Fatalf("message %q", e.Message)
					}
				})
			}
			if after := listUsers(t, w.svc, w.admin); after != before {
				t.Fatalf("refused changes changed users:\n%s\nwas\n%s", after, before)
			}
		})
		t.Run("ListShowsDisabledUsers", func(t *testing.T) {
			if _, err := update(bob, service.UserChange{Disabled: ptr(true)}); err != nil {
				t.Fatal(err)
			}
			users, _, err := w.svc.ListUsers(ctx, w.alice, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, u := range users {
				found = found || (u.ID == bob && u.Disabled)
			}
			if !found {
				t.Fatalf("bob is not listed as disabled: %+v", users)
			}
			if u, err := w.svc.User(ctx, w.alice, bob); err != nil || !u.Disabled {
				t.Fatalf("bob: %+v, %v", u, err)
			}
		})
	})
}

// listUsers renders every user of p's install, for comparisons.
func listUsers(t *testing.T, svc *service.Service, p crm.Principal) string {
	t.Helper()
	users, _, err := svc.ListUsers(context.Background(), p, "", service.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u.ID + " " + u.Role + " " + u.ManagerID + " " + u.Name + " " + map[bool]string{true: "disabled", false: "enabled"}[u.Disabled] + "\n")
	}
	return b.String()
}

// audit is every user.update event of an install.
func audit(t *testing.T, db *store.DB, installID string) []crm.AuditEvent {
	t.Helper()
	events, err := db.AuditByAction(context.Background(), installID, crm.AuditUserUpdate, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestUserChangesAreAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		if _, err := w.svc.UpdateUser(ctx, w.admin, w.alice.User.ID, service.UserChange{Role: ptr(crm.RoleManager), ManagerID: ptr(w.carol.User.ID), Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.ChangeUser(ctx, w.admin.Install, w.alice.User.ID, service.UserChange{Name: ptr("Alice"), ManagerID: ptr("")}); err != nil {
			t.Fatal(err)
		}
		events := audit(t, db, w.admin.Install.ID)
		if len(events) != 2 {
			t.Fatalf("%d events, want 2: %+v", len(events), events)
		}
		first, second := events[0], events[1]
		if first.ActorID != w.admin.User.ID || first.Action != "user.update" || first.RecordID != "" {
			t.Fatalf("first event: %+v", first)
		}
		want := map[string]any{
			"user_id":    w.alice.User.ID,
			"role":       map[string]any{"from": "member", "to": "manager"},
			"manager_id": map[string]any{"from": nil, "to": w.carol.User.ID},
			"disabled":   map[string]any{"from": false, "to": true},
		}
		if got := render(first.Detail); got != render(want) {
			t.Fatalf("detail %s, want %s", got, render(want))
		}
		want = map[string]any{
			"user_id":    w.alice.User.ID,
			"name":       map[string]any{"from": "alice", "to": "Alice"},
			"manager_id": map[string]any{"from": w.carol.User.ID, "to": nil},
		}
		if got := render(second.Detail); got != render(want) || second.ActorID != "" {
			t.Fatalf("the command line's change: actor %q, detail %s, want none and %s", second.ActorID, got, render(want))
		}
		// Nothing of another install.
		if n := len(audit(t, db, w.mallory.Install.ID)); n != 0 {
			t.Fatalf("globex has %d user events", n)
		}
	})
}

func TestTheLastAdminStays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		admin := w.admin.User.ID
		for name, c := range map[string]service.UserChange{
			"Demoted":  {Role: ptr(crm.RoleManager)},
			"Disabled": {Disabled: ptr(true)},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := w.svc.UpdateUser(ctx, w.admin, admin, c)
				wantCode(t, err, "last_admin")
				if crm.KindOf(err) != crm.KindConflict {
					t.Fatalf("kind %v", crm.KindOf(err))
				}
				_, err = w.svc.ChangeUser(ctx, w.admin.Install, admin, c)
				wantCode(t, err, "last_admin")
				if u, _ := w.svc.User(ctx, w.admin, admin); u.Role != crm.RoleAdmin || u.Disabled {
					t.Fatalf("the refused change was saved: %+v", u)
				}
			})
		}
		t.Run("AnotherAdminFirst", func(t *testing.T) {
			if _, err := w.svc.UpdateUser(ctx, w.admin, w.carol.User.ID, service.UserChange{Role: ptr(crm.RoleAdmin)}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.UpdateUser(ctx, w.admin, admin, service.UserChange{Disabled: ptr(true)}); err != nil {
				t.Fatal(err)
			}
			carol := fresh(t, w.svc, w.carol)
			_, err := w.svc.UpdateUser(ctx, carol, carol.User.ID, service.UserChange{Role: ptr(crm.RoleMember)})
			wantCode(t, err, "last_admin")
			if _, err := w.svc.UpdateUser(ctx, carol, admin, service.UserChange{Disabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ARoleLosingAdmin", func(t *testing.T) {
			if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "boss", Capabilities: []crm.Capability{crm.CapAdmin}}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{w.carol.User.ID, admin} {
				if _, err := w.svc.UpdateUser(ctx, fresh(t, w.svc, w.carol), id, service.UserChange{Role: ptr("boss")}); err != nil {
					t.Fatal(err)
				}
			}
			carol := fresh(t, w.svc, w.carol)
			_, err := w.svc.PutRole(ctx, carol, crm.Role{Name: "boss", Capabilities: []crm.Capability{crm.CapReassign}})
			wantCode(t, err, "last_admin")
			if r, _ := w.svc.Role(ctx, carol, "boss"); !r.Has(crm.CapAdmin) {
				t.Fatalf("the refused change was saved: %+v", r)
			}
			// With an admin of another role, it may.
			if _, err := w.svc.UpdateUser(ctx, carol, admin, service.UserChange{Role: ptr(crm.RoleAdmin)}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.PutRole(ctx, fresh(t, w.svc, w.admin), crm.Role{Name: "boss", Capabilities: []crm.Capability{crm.CapReassign}}); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestTheLastAdminStaysUnderConcurrency: two admins demote (or disable)
// each other at the same moment, again and again; one of the two changes
// is refused each time, and the install always keeps an admin.
func TestTheLastAdminStaysUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		in := w.admin.Install
		one, two := w.admin.User.ID, w.carol.User.ID
		changes := []service.UserChange{{Role: ptr(crm.RoleMember)}, {Disabled: ptr(true)}}
		for round := range 20 {
			for _, id := range []string{one, two} {
				if _, err := w.svc.ChangeUser(ctx, in, id, service.UserChange{Role: ptr(crm.RoleAdmin), Disabled: ptr(false)}); err != nil {
					t.Fatal(err)
				}
			}
			p1, p2 := fresh(t, w.svc, w.admin), fresh(t, w.svc, w.carol)
			c := changes[round%2]
			var errs [2]error
			var wg sync.WaitGroup
			wg.Go(func() { _, errs[0] = w.svc.UpdateUser(ctx, p1, two, c) })
			wg.Go(func() { _, errs[1] = w.svc.UpdateUser(ctx, p2, one, c) })
			wg.Wait()
			refused := 0
			for _, err := range errs {
				switch code := codeOf(err); code {
				case "":
				case "last_admin", "admin_only", "user_disabled": // the second to commit was no longer an admin
					refused++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: %d changes refused (%v), want 1", round, refused, errs)
			}
			admins := 0
			for _, id := range []string{one, two} {
				if u, err := w.svc.FindUser(ctx, in, id); err == nil && u.Role == crm.RoleAdmin && !u.Disabled {
					admins++
				}
			}
			if admins != 1 {
				t.Fatalf("round %d: %d enabled admins", round, admins)
			}
		}
	})
}

// render is v as JSON, keys sorted, for comparisons.
func render(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(raw)
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := crm.AsError(err); ok {
		return e.Code
	}
	return err.Error()
}

// TestUsersOfAnAdoptedCRMAreItsOwn: in adoption mode users are changed in
// the CRM, as they are added there.
func TestUsersOfAnAdoptedCRMAreItsOwn(t *testing.T) {
	db := storetest.SQLite(t)
	w := newWorld(t, db)
	db.Adopt(w.admin.Install.ID, &adopt.Mapping{})
	_, err := w.svc.UpdateUser(context.Background(), w.admin, w.alice.User.ID, service.UserChange{Role: ptr(crm.RoleManager)})
	wantCode(t, err, "crm_managed")
	_, err = w.svc.CreateUser(context.Background(), w.admin, service.NewUser{Email: "new@acme.test"})
	wantCode(t, err, "crm_managed")
}
