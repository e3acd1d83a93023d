package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// world is two installs: acme with an admin, a manager and two members, and
// globex with its own admin.
type world struct {
	svc                      *service.Service
	admin, carol, alice, bob crm.Principal
	mallory                  crm.Principal // admin of globex
}

func newWorld(t *testing.T, db *store.DB, opts ...service.Option) world {
	t.Helper()
	ctx := context.Background()
	clock := service.WithClock(func() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) })
	svc, err := service.New(db, append([]service.Option{clock}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w := world{svc: svc}
	acme, err := svc.CreateInstall(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := svc.CreateInstall(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	add := func(in crm.Install, email, role string) crm.Principal {
		t.Helper()
		u, err := svc.AddUser(ctx, in, service.NewUser{Email: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.PrincipalFor(ctx, in, u)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.admin = add(acme, "admin@acme.test", crm.RoleAdmin)
	w.carol = add(acme, "carol@acme.test", crm.RoleManager)
	w.alice = add(acme, "alice@acme.test", crm.RoleMember)
	w.bob = add(acme, "bob@acme.test", crm.RoleMember)
	w.mallory = add(globex, "mallory@globex.test", crm.RoleAdmin)
	if got, err := svc.InstallBySlug(ctx, "acme"); err != nil || got.ID != acme.ID {
		t.Fatalf("install by slug: %+v, %v", got, err)
	}
	if got, err := svc.UserByEmail(ctx, acme, "Alice@acme.test"); err != nil || got.ID != w.alice.User.ID {
		t.Fatalf("user by e-mail: %+v, %v", got, err)
	}
	return w
}

func (w world) create(t *testing.T, p crm.Principal, typ crm.RecordType, name, owner string, parent *crm.Record) crm.Record {
	t.Helper()
	nr := service.NewRecord{Type: typ, Data: map[string]any{"name": name}, OwnerID: owner}
	if parent != nil {
		nr.Parent = &crm.Ref{Type: parent.Type, ID: parent.ID}
	}
	r, err := w.svc.CreateRecord(context.Background(), p, nr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantCode fails unless err is a crm error with the given code ("" for nil).
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	got := ""
	if err != nil {
		e, ok := crm.AsError(err)
		if !ok {
			t.Fatalf("got internal error %v, want code %q", err, want)
		}
		got = e.Code
	}
	if got != want {
		t.Fatalf("got code %q (%v), want %q", got, err, want)
	}
}

func rename(name string) service.RecordChange {
	return service.RecordChange{Data: map[string]any{"name": name}}
}

func ids(recs []crm.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func TestListsAndRelated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		acct := w.create(t, w.alice, crm.TypeAccount, "Acme Corp", w.alice.User.ID, nil)
		mine := w.create(t, w.alice, crm.TypeContact, "Mine", w.alice.User.ID, &acct)
		open := w.create(t, w.bob, crm.TypeContact, "Open", "", &acct)
		bobs := w.create(t, w.bob, crm.TypeContact, "Bob's", w.bob.User.ID, nil)
		call := w.create(t, w.bob, crm.TypeActivity, "Call", "", &acct)

		t.Run("CanEdit", func(t *testing.T) {
			got, _, err := w.svc.ListRecords(ctx, w.alice, crm.TypeContact, service.ListOptions{Can: "edit"})
			if err != nil || ids(got) != open.ID+","+mine.ID {
				t.Fatalf("alice can edit %v (%v), want open and mine", ids(got), err)
			}
			got, _, err = w.svc.ListRecords(ctx, w.admin, crm.TypeContact, service.ListOptions{Can: "edit"})
			if err != nil || ids(got) != bobs.ID+","+open.ID+","+mine.ID {
				t.Fatalf("admin can edit %v (%v)", ids(got), err)
			}
			_, _, err = w.svc.ListRecords(ctx, w.alice, crm.TypeContact, service.ListOptions{Can: "fly"})
			wantCode(t, err, "invalid_filter")
		})
		t.Run("Related", func(t *testing.T) {
			rel, err := w.svc.RelatedRecords(ctx, w.bob, crm.TypeAccount, acct.ID, "", service.ListOptions{})
			if err != nil || ids(rel.Children) != call.ID+","+open.ID+","+mine.ID || rel.Parent != nil {
				t.Fatalf("related of account: %v, %v", ids(rel.Children), err)
			}
			rel, err = w.svc.RelatedRecords(ctx, w.bob, crm.TypeAccount, acct.ID, "activity", service.ListOptions{})
			if err != nil || ids(rel.Children) != call.ID {
				t.Fatalf("related activities: %v, %v", ids(rel.Children), err)
			}
			rel, err = w.svc.RelatedRecords(ctx, w.bob, crm.TypeContact, mine.ID, "", service.ListOptions{})
			if err != nil || rel.Parent == nil || rel.Parent.ID != acct.ID {
				t.Fatalf("parent of contact: %+v, %v", rel.Parent, err)
			}
		})
		t.Run("Pages", func(t *testing.T) {
			var seen []string
			cursor := ""
			for {
				page, next, err := w.svc.ListRecords(ctx, w.bob, crm.TypeContact, service.ListOptions{Limit: 2, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, ids(page))
				if next == "" {
					break
				}
				cursor = next
			}
			if strings.Join(seen, "|") != bobs.ID+","+open.ID+"|"+mine.ID {
				t.Fatalf("pages %v", seen)
			}
		})
		t.Run("BadInput", func(t *testing.T) {
			for _, tc := range []struct {
				o    service.ListOptions
				code string
			}{
				{service.ListOptions{Cursor: "garbage"}, "invalid_cursor"},
				// Ids are ASCII: a cursor around any other byte is no
				// cursor of ours, and never reaches the database.
				{service.ListOptions{Cursor: service.CursorAt("01M90XFQDACMFC7\xc40BVP6C45QM")}, "invalid_cursor"},
				{service.ListOptions{Cursor: service.CursorAt("01M90XFQDACMFC7É0BVP6C45")}, "invalid_cursor"},
				{service.ListOptions{Cursor: service.CursorAt("01M90XFQ\x00ACMFC70BVP6C45")}, "invalid_cursor"},
				{service.ListOptions{Limit: 500}, "invalid_limit"},
				{service.ListOptions{Limit: -1}, "invalid_limit"},
				{service.ListOptions{Owner: "alice"}, "invalid_filter"},
				{service.ListOptions{Team: "x"}, "invalid_filter"},
			} {
				_, _, err := w.svc.ListRecords(ctx, w.bob, crm.TypeContact, tc.o)
				wantCode(t, err, tc.code)
			}
			_, err := w.svc.GetRecord(ctx, w.bob, crm.TypeContact, "42")
			wantCode(t, err, "invalid_id")
		})
	})
}

func TestWritesAreWholeOrAbsent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		acct := w.create(t, w.alice, crm.TypeAccount, "Acme Corp", "", nil)
		globexTeam, err := w.svc.CreateTeam(ctx, w.mallory, "Globex sales")
		if err != nil {
			t.Fatal(err)
		}
		globexAcct := w.create(t, w.mallory, crm.TypeAccount, "Globex", "", nil)

		for _, tc := range []struct {
			name string
			nr   service.NewRecord
			code string
		}{
			{"NoName", service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"email": "x@y.z"}}, "invalid_data"},
			{"NameNotString", service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": true}}, "invalid_data"},
			{"TeamOfAnotherInstall", service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "x"}, TeamID: globexTeam.ID}, "unknown_team"},
			{"ParentOfAnotherInstall", service.NewRecord{Type: crm.TypeContact, Data: map[string]any{"name": "x"}, Parent: &crm.Ref{Type: crm.TypeAccount, ID: globexAcct.ID}}, "invalid_parent"},
			{"LeadHasNoParent", service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "x"}, Parent: &crm.Ref{Type: crm.TypeAccount, ID: acct.ID}}, "invalid_parent"},
			{"ContactUnderContact", service.NewRecord{Type: crm.TypeContact, Data: map[string]any{"name": "x"}, Parent: &crm.Ref{Type: crm.TypeLead, ID: acct.ID}}, "invalid_parent"},
			{"OwnerOfAnotherInstall", service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "x"}, OwnerID: w.mallory.User.ID}, "unknown_user"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := w.svc.CreateRecord(ctx, w.alice, tc.nr)
				wantCode(t, err, tc.code)
			})
		}
		leads, _, _ := w.svc.ListRecords(ctx, w.admin, crm.TypeLead, service.ListOptions{})
		contacts, _, _ := w.svc.ListRecords(ctx, w.admin, crm.TypeContact, service.ListOptions{})
		if len(leads)+len(contacts) != 0 {
			t.Fatalf("refused creations left %d records behind", len(leads)+len(contacts))
		}

		t.Run("ParentCycle", func(t *testing.T) {
			a := w.create(t, w.alice, crm.TypeActivity, "a", "", nil)
			b := w.create(t, w.alice, crm.TypeActivity, "b", "", &a)
			_, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeActivity, a.ID, service.RecordChange{SetParent: true, Parent: &crm.Ref{Type: crm.TypeActivity, ID: b.ID}}, 0)
			wantCode(t, err, "invalid_parent")
			got, _ := w.svc.GetRecord(ctx, w.alice, crm.TypeActivity, a.ID)
			if got.Parent != nil || got.Version != 1 {
				t.Fatalf("a refused change was written: %+v", got)
			}
		})
		t.Run("PatchMergesData", func(t *testing.T) {
			r := w.create(t, w.alice, crm.TypeLead, "merge", "", nil)
			got, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, r.ID, service.RecordChange{Data: map[string]any{"stage": "new"}}, 0)
			if err != nil || got.Name() != "merge" || got.Data["stage"] != "new" {
				t.Fatalf("%+v, %v", got, err)
			}
			got, err = w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, r.ID, service.RecordChange{Data: map[string]any{"stage": nil}}, 0)
			if _, has := got.Data["stage"]; err != nil || has {
				t.Fatalf("null did not remove the field: %+v, %v", got, err)
			}
			_, err = w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, r.ID, service.RecordChange{Data: map[string]any{"name": nil}}, 0)
			wantCode(t, err, "invalid_data")
		})
		t.Run("DeleteDetachesChildrenAndKeepsData", func(t *testing.T) {
			child := w.create(t, w.alice, crm.TypeContact, "child", "", &acct)
			if err := w.svc.DeleteRecord(ctx, w.alice, crm.TypeAccount, acct.ID, 0); err != nil {
				t.Fatal(err)
			}
			_, err := w.svc.GetRecord(ctx, w.alice, crm.TypeAccount, acct.ID)
			wantCode(t, err, "not_found")
			got, err := w.svc.GetRecord(ctx, w.alice, crm.TypeContact, child.ID)
			if err != nil || got.Parent != nil {
				t.Fatalf("child after parent's delete: %+v, %v", got, err)
			}
			events, err := db.RecordAudit(ctx, w.alice.Install.ID, crm.TypeAccount, acct.ID, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			last := events[len(events)-1]
			data, _ := last.Detail["data"].(map[string]any)
			if last.Action != crm.AuditRecordDelete || data["name"] != "Acme Corp" {
				t.Fatalf("delete audited as %+v", last)
			}
		})
	})
}

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		secret, err := w.svc.CreateToken(ctx, w.alice.User, "test")
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.svc.Authenticate(ctx, secret)
		if err != nil || p.User.ID != w.alice.User.ID || p.Install.ID != w.alice.Install.ID || p.Role.Name != crm.RoleMember {
			t.Fatalf("%+v, %v", p, err)
		}
		for _, bad := range []string{secret[:len(secret)-1] + "A", "cg_short", "Basic abc", strings.Repeat("x", 46)} {
			if bad == secret {
				continue
			}
			_, err := w.svc.Authenticate(ctx, bad)
			wantCode(t, err, "invalid_token")
		}
		_, err = w.svc.Authenticate(ctx, "")
		wantCode(t, err, "missing_token")

		// Replacing a label's tokens revokes the old one.
		again, err := w.svc.ReplaceTokens(ctx, w.alice.User, "test")
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Authenticate(ctx, secret)
		wantCode(t, err, "invalid_token")
		if _, err := w.svc.Authenticate(ctx, again); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAdministration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		t.Run("OnlyAdmins", func(t *testing.T) {
			_, err := w.svc.CreateUser(ctx, w.carol, service.NewUser{Email: "x@acme.test"})
			wantCode(t, err, "admin_only")
			_, err = w.svc.CreateTeam(ctx, w.alice, "Team")
			wantCode(t, err, "admin_only")
			_, err = w.svc.PutRole(ctx, w.carol, crm.Role{Name: "rep"})
			wantCode(t, err, "admin_only")
			by := crm.AssignByEveryone
			_, err = w.svc.UpdateSettings(ctx, w.alice, service.SettingsChange{AssignBy: &by})
			wantCode(t, err, "admin_only")
		})
		t.Run("Users", func(t *testing.T) {
			u, err := w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "Dave@Acme.test", ManagerID: w.carol.User.ID})
			if err != nil || u.Email != "dave@acme.test" || u.Role != crm.RoleMember || u.ManagerID != w.carol.User.ID {
				t.Fatalf("%+v, %v", u, err)
			}
			_, err = w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "dave@acme.test"})
			wantCode(t, err, "email_taken")
			_, err = w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "eve@acme.test", ManagerID: w.mallory.User.ID})
			wantCode(t, err, "unknown_user")
			_, err = w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "eve@acme.test", Role: "pirate"})
			wantCode(t, err, "unknown_role")
			// A name no role can have is refused before it meets the
			// roles' ASCII column, which MySQL will not compare it with.
			_, err = w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "eve@acme.test", Role: "pirate😀"})
			wantCode(t, err, "invalid_role")
			_, err = w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "not an address"})
			wantCode(t, err, "invalid_email")
			users, _, err := w.svc.ListUsers(ctx, w.alice, "", 50)
			if err != nil || len(users) != 5 {
				t.Fatalf("listed %d users of acme, %v", len(users), err)
			}
		})
		t.Run("Roles", func(t *testing.T) {
			created, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "sales-rep", Description: "Sales", Capabilities: []crm.Capability{crm.CapReassign}})
			if err != nil || !created {
				t.Fatalf("%v, %v", created, err)
			}
			created, err = w.svc.PutRole(ctx, w.admin, crm.Role{Name: "sales-rep", Description: "Sales reps"})
			if err != nil || created {
				t.Fatalf("%v, %v", created, err)
			}
			r, err := w.svc.Role(ctx, w.admin, "sales-rep")
			if err != nil || r.Description != "Sales reps" || len(r.Capabilities) != 0 {
				t.Fatalf("%+v", r)
			}
			_, err = w.svc.PutRole(ctx, w.admin, crm.Role{Name: "admin"})
			wantCode(t, err, "builtin_role")
			_, err = w.svc.PutRole(ctx, w.admin, crm.Role{Name: "x", Capabilities: []crm.Capability{"fly"}})
			wantCode(t, err, "invalid_role")
			_, err = w.svc.PutRole(ctx, w.admin, crm.Role{Name: "flyer", Capabilities: []crm.Capability{"fly"}})
			wantCode(t, err, "invalid_capability")
			for _, name := range []string{"😀\x00", "sales-rep\x00", "Sales Rep"} {
				_, err = w.svc.Role(ctx, w.admin, name)
				wantCode(t, err, "invalid_role")
			}
			if _, err := w.svc.Role(ctx, w.mallory, "sales-rep"); crm.KindOf(err) != crm.KindNotFound {
				t.Fatalf("a custom role of acme is visible to globex: %v", err)
			}
		})
		t.Run("Teams", func(t *testing.T) {
			team, err := w.svc.CreateTeam(ctx, w.admin, "North")
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.svc.CreateTeam(ctx, w.admin, "North")
			wantCode(t, err, "team_exists")
			_, err = w.svc.SetTeamMembers(ctx, w.admin, team.ID, []crm.Membership{{UserID: w.alice.User.ID}, {UserID: w.mallory.User.ID}})
			wantCode(t, err, "unknown_user")
			got, err := w.svc.SetTeamMembers(ctx, w.admin, team.ID, []crm.Membership{{UserID: w.alice.User.ID, Primary: true}, {UserID: w.bob.User.ID}})
			if err != nil || len(got.Members) != 2 {
				t.Fatalf("%+v, %v", got, err)
			}
			read, err := w.svc.Team(ctx, w.bob, team.ID)
			if err != nil || len(read.Members) != 2 || read.Members[0].UserID != w.alice.User.ID || !read.Members[0].Primary {
				t.Fatalf("team as read back: %+v, %v", read, err)
			}
			_, err = w.svc.SetTeamMembers(ctx, w.mallory, team.ID, nil)
			wantCode(t, err, "unknown_team")
			_, err = w.svc.Team(ctx, w.mallory, team.ID)
			wantCode(t, err, "unknown_team")
		})
		t.Run("Settings", func(t *testing.T) {
			bad := crm.AssignBy("robots")
			_, err := w.svc.UpdateSettings(ctx, w.admin, service.SettingsChange{AssignBy: &bad})
			wantCode(t, err, "invalid_settings")
			off := false
			s, err := w.svc.UpdateSettings(ctx, w.admin, service.SettingsChange{AssignmentEnabled: &off})
			if err != nil || s.AssignmentEnabled || s.AssignBy != crm.AssignByOwners {
				t.Fatalf("%+v, %v", s, err)
			}
			other, _ := w.svc.Settings(ctx, w.mallory)
			if !other.AssignmentEnabled {
				t.Fatal("a settings change crossed installs")
			}
		})
	})
}

// TestConcurrentWritersLoseNothing has many users change different fields
// of one record at once, without If-Match: every change must survive and
// every write must get its own version.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		r := w.create(t, w.alice, crm.TypeLead, "shared", "", nil)
		const writers = 8
		errs := make(chan error, writers)
		for i := range writers {
			go func() {
				field := fmt.Sprintf("field%d", i)
				_, err := w.svc.UpdateRecord(ctx, w.bob, crm.TypeLead, r.ID, service.RecordChange{Data: map[string]any{field: i}}, 0)
				errs <- err
			}()
		}
		for range writers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		got, err := w.svc.GetRecord(ctx, w.bob, crm.TypeLead, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != writers+1 || len(got.Data) != writers+1 {
			t.Fatalf("after %d concurrent writes: version %d, fields %v", writers, got.Version, got.Data)
		}
	})
}
