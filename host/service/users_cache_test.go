package service_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// roleTeams lets a user who is no admin see the leads of the users who
// share their role and of their reports, as strict-ownership's "role" and
// "reports" scopes do: a policy made of other users' roles and managers.
func roleTeams(db *store.DB) service.PolicyFilter {
	return func(ctx context.Context, p crm.Principal, pol sdk.Policy) (sdk.Policy, error) {
		if pol.Admin {
			return pol, nil
		}
		users, err := db.ListUsers(ctx, p.Install.ID, "", service.MaxLimit)
		if err != nil {
			return pol, err
		}
		links, err := db.ManagerLinks(ctx, p.Install.ID)
		if err != nil {
			return pol, err
		}
		owners := links.Reports(p.User.ID)
		for _, u := range users {
			if u.Role == p.User.Role {
				owners = append(owners, u.ID)
			}
		}
		pol.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondOwnerIn, Users: owners}}})
		return pol, nil
	}
}

// TestUserChangesReachEveryReplica changes users on replica A and asks
// replica B, which has cached everything it was asked before, on the very
// next call: a user's new role is their own policy's and their role
// mates' at once, a new manager sees the report's records and the old one
// no longer does, a new user's records are seen by their role mates, and a
// disabled user's token stops working until they are enabled again.
func TestUserChangesReachEveryReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rdb, prefix := cachetest.Redis(t)
		opts := cache.Options{Redis: rdb, Prefix: prefix, HealthEvery: 20 * time.Millisecond}
		a := replicaWith(t, db, opts, service.WithPolicyFilter(roleTeams(db)))
		b := replicaWith(t, db, opts, service.WithPolicyFilter(roleTeams(db)))
		in, err := a.CreateInstall(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		tokens := map[string]string{}
		ids := map[string]string{}
		add := func(name, role string) {
			t.Helper()
			u, err := a.AddUser(ctx, in, service.NewUser{Email: name + "@acme.test", Role: role})
			if err != nil {
				t.Fatal(err)
			}
			if tokens[name], err = a.CreateToken(ctx, u, "test"); err != nil {
				t.Fatal(err)
			}
			ids[name] = u.ID
		}
		add("admin", crm.RoleAdmin)
		add("alice", crm.RoleMember)
		add("bob", crm.RoleMember)
		add("carol", crm.RoleManager)
		admin := as(t, a, tokens["admin"])
		if _, err := a.PutRole(ctx, admin, crm.Role{Name: "sales-rep"}); err != nil {
			t.Fatal(err)
		}
		leads := map[string]string{} // by owner's name
		lead := func(owner string) {
			t.Helper()
			r, err := a.CreateRecord(ctx, admin, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": owner + "'s"}, OwnerID: ids[owner]})
			if err != nil {
				t.Fatal(err)
			}
			leads[r.ID] = owner
		}
		for _, name := range []string{"alice", "bob", "carol"} {
			lead(name)
		}
		// whose leads a user sees on a replica, by owner.
		sees := func(svc *service.Service, name string) []string {
			t.Helper()
			recs, _, err := svc.ListRecords(ctx, as(t, svc, tokens[name]), crm.TypeLead, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var owners []string
			for _, r := range recs {
				owners = append(owners, leads[r.ID])
			}
			slices.Sort(owners)
			return owners
		}
		want := func(svc *service.Service, name string, owners ...string) {
			t.Helper()
			if got := sees(svc, name); !slices.Equal(got, owners) {
				t.Fatalf("%s sees the leads of %v, want %v", name, got, owners)
			}
		}
		update := func(name string, c service.UserChange) {
			t.Helper()
			if _, err := a.UpdateUser(ctx, admin, ids[name], c); err != nil {
				t.Fatal(err)
			}
		}
		// B caches what each sees.
		want(b, "alice", "alice", "bob")
		want(b, "bob", "alice", "bob")
		want(b, "carol", "carol")

		t.Run("ARoleChange", func(t *testing.T) {
			update("alice", service.UserChange{Role: ptr("sales-rep")})
			if p := as(t, b, tokens["alice"]); p.Role.Name != "sales-rep" {
				t.Fatalf("B says alice is %s", p.Role.Name)
			}
			want(b, "alice", "alice")
			want(b, "bob", "bob") // bob's own counter did not change
		})
		t.Run("AManagerChange", func(t *testing.T) {
			update("bob", service.UserChange{ManagerID: ptr(ids["carol"])})
			want(b, "carol", "bob", "carol")
			update("bob", service.UserChange{ManagerID: ptr(ids["alice"])})
			want(b, "carol", "carol")
			want(b, "alice", "alice", "bob")
			update("bob", service.UserChange{ManagerID: ptr("")})
			want(b, "alice", "alice")
		})
		t.Run("ANewUser", func(t *testing.T) {
			want(b, "bob", "bob")
			add("dave", crm.RoleMember)
			lead("dave")
			want(b, "bob", "bob", "dave")
		})
		t.Run("DisabledAndEnabled", func(t *testing.T) {
			update("alice", service.UserChange{Disabled: ptr(true)})
			for _, svc := range []*service.Service{b, a} {
				p, err := svc.Authenticate(ctx, tokens["alice"])
				if err == nil {
					_, err = svc.Me(ctx, p)
				}
				wantCode(t, err, "user_disabled")
				if crm.KindOf(err) != crm.KindUnauthenticated {
					t.Fatalf("kind %v", crm.KindOf(err))
				}
			}
			// Asked again, from the database this time: the same.
			_, err := b.Authenticate(ctx, tokens["alice"])
			wantCode(t, err, "user_disabled")
			update("alice", service.UserChange{Disabled: ptr(false)})
			want(b, "alice", "alice")
			want(a, "alice", "alice")
		})
	})
}

// as is the principal a token authenticates as on a replica, as it is now.
func as(t *testing.T, svc *service.Service, token string) crm.Principal {
	t.Helper()
	p, err := svc.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = svc.Me(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDisabledUsersGetNothingNew: a disabled user keeps their records,
// which may be moved away from them, but is given none, is no manager of
// anyone new, and is, for the decision API, no user, as an adopted CRM's
// inactive users are.
func TestDisabledUsersGetNothingNew(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		alice := w.alice.User.ID
		kept := w.create(t, w.alice, crm.TypeLead, "Alice's", alice, nil)
		open := w.create(t, w.bob, crm.TypeLead, "Open", "", nil)
		tok, err := w.svc.CreateServiceToken(ctx, w.admin.Install, "crm")
		if err != nil {
			t.Fatal(err)
		}
		app, err := w.svc.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Check(ctx, app, []service.CheckRequest{{UserID: alice, Action: sdk.ActionView, Type: sdk.TypeLead, ID: kept.ID}}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdateUser(ctx, w.admin, alice, service.UserChange{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"Create": func() error {
				_, err := w.svc.CreateRecord(ctx, w.bob, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "x"}, OwnerID: alice})
				return err
			},
			"AssignTo": func() error {
				_, err := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, open.ID, alice, 0)
				return err
			},
			"ReassignTo": func() error {
				_, err := w.svc.Reassign(ctx, w.admin, crm.TypeLead, w.bob.User.ID, alice)
				return err
			},
			"Manager": func() error {
				_, err := w.svc.UpdateUser(ctx, w.admin, w.bob.User.ID, service.UserChange{ManagerID: ptr(alice)})
				return err
			},
			"NewUsersManager": func() error {
				_, err := w.svc.CreateUser(ctx, w.admin, service.NewUser{Email: "new@acme.test", ManagerID: alice})
				return err
			},
		} {
			t.Run(name, func(t *testing.T) {
				err := call()
				wantCode(t, err, "user_disabled")
				if crm.KindOf(err) != crm.KindInvalid {
					t.Fatalf("kind %v", crm.KindOf(err))
				}
			})
		}
		t.Run("DecisionAPI", func(t *testing.T) {
			_, err := w.svc.Check(ctx, app, []service.CheckRequest{{UserID: alice, Action: sdk.ActionView, Type: sdk.TypeLead, ID: kept.ID}}, false)
			wantCode(t, err, "unknown_user")
			_, err = w.svc.Filter(ctx, app, alice, sdk.ActionView, sdk.TypeLead, "")
			wantCode(t, err, "unknown_user")
		})
		t.Run("TheirRecordsMoveAway", func(t *testing.T) {
			if got, err := w.svc.GetRecord(ctx, w.admin, crm.TypeLead, kept.ID); err != nil || got.OwnerID != alice {
				t.Fatalf("alice's lead: %+v, %v", got, err)
			}
			n, err := w.svc.Reassign(ctx, w.admin, crm.TypeLead, alice, w.bob.User.ID)
			if err != nil || n.Reassigned != 1 || len(n.Refused) != 0 {
				t.Fatalf("reassigning a disabled user's leads: %+v, %v", n, err)
			}
		})
		t.Run("EnabledAgain", func(t *testing.T) {
			if _, err := w.svc.UpdateUser(ctx, w.admin, alice, service.UserChange{Disabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, open.ID, alice, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.Check(ctx, app, []service.CheckRequest{{UserID: alice, Action: sdk.ActionView, Type: sdk.TypeLead, ID: open.ID}}, false); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestUserChangesPausedWithoutRedis: while Redis is unreachable, users are
// neither changed nor added, since other replicas could not be told.
func TestUserChangesPausedWithoutRedis(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.StartServer(t)
	db := storetest.SQLite(t)
	svc := replica(t, db, srv.Client(t), "p:")
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	admin := login(t, svc, in, "admin@acme.test", crm.RoleAdmin)
	alice := login(t, svc, in, "alice@acme.test", crm.RoleMember)
	srv.Stop(t)
	_, err = svc.UpdateUser(ctx, admin, alice.User.ID, service.UserChange{Disabled: ptr(true)})
	wantCode(t, err, "cache_unavailable")
	_, err = svc.AddUser(ctx, in, service.NewUser{Email: "bob@acme.test"})
	wantCode(t, err, "cache_unavailable")
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = svc.UpdateUser(ctx, admin, alice.User.ID, service.UserChange{Disabled: ptr(true)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user changes still refused 10 s after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if u, err := svc.FindUser(ctx, in, "bob@acme.test"); err == nil {
		t.Fatalf("bob was added during the outage: %+v", u)
	}
}
