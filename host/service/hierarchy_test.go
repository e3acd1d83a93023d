package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// hierarchyPlugins builds testdata/hierarchy, a plugin that shows what it
// is told of users, and runs it as the host runs its plugins.
func hierarchyPlugins(t *testing.T) *plugins.Runtime {
	t.Helper()
	return startPlugins(t, nil, hierarchyPackage)
}

// position is a user's managers, reports and role peers as a plugin was
// given them.
type position struct{ managers, reports, peers []string }

// sameHierarchy compares managers and reports only.
func (p position) sameHierarchy(q position) bool {
	return slices.Equal(p.managers, q.managers) && slices.Equal(p.reports, q.reports)
}

// fromPolicy reads back what the plugin's policy hook was given about p
// from the policy it made: the owners of the contacts p may see are p's
// managers, those of the leads p's reports, those of the opportunities
// p's role peers.
func fromPolicy(t *testing.T, svc *service.Service, p crm.Principal) position {
	t.Helper()
	owners := func(typ sdk.RecordType) []string {
		f, err := svc.Filter(context.Background(), p, "", sdk.ActionView, typ, "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		if f.Kind != access.FilterNone {
			for _, a := range f.Args {
				ids = append(ids, a.(string))
			}
		}
		return ids
	}
	return position{managers: owners(sdk.TypeContact), reports: owners(sdk.TypeLead), peers: owners(sdk.TypeOpportunity)}
}

// fromRoute asks the plugin's routes what they were given about p.
func fromRoute(t *testing.T, svc *service.Service, p crm.Principal) position {
	t.Helper()
	resp, err := svc.PluginHTTP(context.Background(), p, "hierarchy", service.PluginRequest{Method: "GET", Path: "/user"})
	if err != nil {
		t.Fatal(err)
	}
	var u sdk.User
	if err := json.Unmarshal(resp.Body, &u); err != nil || u.ID != p.User.ID {
		t.Fatalf("GET /user: %d %s, %v", resp.Status, resp.Body, err)
	}
	return position{managers: u.Managers, reports: u.Reports, peers: u.RolePeers}
}

// TestPluginsGetManagersAndReports gives a plugin users in a hierarchy and
// checks what its policy hook and its routes are told of each, before and
// after a new report joins: the policies cached for everyone above the new
// user must not keep the old reports, on this replica or any other.
func TestPluginsGetManagersAndReports(t *testing.T) {
	rt := hierarchyPlugins(t)
	t.Run("OnlyWherePluginsGetUsers", func(t *testing.T) {
		// Working out the lists costs a cold policy two statements (the
		// manager links, the role peers), in an install with plugins that
		// are given users only.
		var statements atomic.Int64
		ctx := context.Background()
		svc, err := service.New(storetest.Counted(t, store.DriverSQLite, &statements))
		if err != nil {
			t.Fatal(err)
		}
		svc.UsePlugins(rt)
		coldPolicy := func(slug string, activate bool) int64 {
			t.Helper()
			in, err := svc.CreateInstall(ctx, slug, "")
			if err != nil {
				t.Fatal(err)
			}
			admin := login(t, svc, in, "admin@"+slug+".test", crm.RoleAdmin)
			if activate {
				if _, err := svc.SetPluginActive(ctx, admin, "hierarchy", true); err != nil {
					t.Fatal(err)
				}
			}
			boss := login(t, svc, in, "boss@"+slug+".test", crm.RoleMember)
			member, err := svc.CreateUser(ctx, admin, service.NewUser{Email: "member@" + slug + ".test", ManagerID: boss.User.ID})
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.PrincipalFor(ctx, in, member)
			if err != nil {
				t.Fatal(err)
			}
			fromPolicy(t, svc, boss) // caches what policies share: the install's activations
			before := statements.Load()
			if _, err := svc.Filter(ctx, p, "", sdk.ActionView, sdk.TypeAccount, ""); err != nil {
				t.Fatal(err)
			}
			return statements.Load() - before
		}
		without, with := coldPolicy("globex", false), coldPolicy("acme", true)
		if with != without+2 {
			t.Fatalf("a cold policy ran %d statements with the plugin active, %d without; want two more with", with, without)
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, err := service.New(db)
		if err != nil {
			t.Fatal(err)
		}
		svc.UsePlugins(rt)
		in, err := svc.CreateInstall(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		admin := login(t, svc, in, "admin@acme.test", crm.RoleAdmin)
		if _, err := svc.SetPluginActive(ctx, admin, "hierarchy", true); err != nil {
			t.Fatal(err)
		}
		add := func(email string, manager *crm.Principal) crm.Principal {
			t.Helper()
			nu := service.NewUser{Email: email}
			if manager != nil {
				nu.ManagerID = manager.User.ID
			}
			u, err := svc.CreateUser(ctx, admin, nu)
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.PrincipalFor(ctx, in, u)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		// carol ← {alice ← bob, eve}
		carol := add("carol@acme.test", nil)
		alice := add("alice@acme.test", &carol)
		bob := add("bob@acme.test", &alice)
		eve := add("eve@acme.test", &carol)
		id := func(ps ...crm.Principal) []string {
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.User.ID)
			}
			return ids
		}
		sorted := func(ps ...crm.Principal) []string { return slices.Sorted(slices.Values(id(ps...))) }
		check := func(t *testing.T, svc *service.Service, p crm.Principal, want position) {
			t.Helper()
			if got := fromPolicy(t, svc, p); !got.sameHierarchy(want) {
				t.Errorf("the policy hook got %s's managers %v and reports %v, want %v and %v", p.User.Email, got.managers, got.reports, want.managers, want.reports)
			}
			if got := fromRoute(t, svc, p); !got.sameHierarchy(want) {
				t.Errorf("the routes got %s's managers %v and reports %v, want %v and %v", p.User.Email, got.managers, got.reports, want.managers, want.reports)
			}
		}

		t.Run("Lists", func(t *testing.T) {
			check(t, svc, carol, position{reports: sorted(alice, bob, eve)})
			check(t, svc, alice, position{managers: id(carol), reports: id(bob)})
			check(t, svc, bob, position{managers: id(alice, carol)})
			check(t, svc, eve, position{managers: id(carol)})
			check(t, svc, admin, position{})
		})
		t.Run("NewReportVoidsCachedPolicies", func(t *testing.T) {
			// Everyone's policy is cached now, with the reports of Lists.
			dave := add("dave@acme.test", &bob)
			check(t, svc, bob, position{managers: id(alice, carol), reports: id(dave)})
			check(t, svc, alice, position{managers: id(carol), reports: sorted(bob, dave)})
			check(t, svc, carol, position{reports: sorted(alice, bob, dave, eve)})
			check(t, svc, dave, position{managers: id(bob, alice, carol)})
			lead, err := svc.CreateRecord(ctx, admin, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}, OwnerID: dave.User.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !allowed(t, svc, carol, sdk.ActionView, lead) || allowed(t, svc, eve, sdk.ActionView, lead) {
				t.Fatal("dave's lead: carol should see it through her reports, eve should not")
			}
		})
		t.Run("OtherReplicas", func(t *testing.T) {
			rdb, prefix := cachetest.Redis(t)
			opts := cache.Options{Redis: rdb, Prefix: prefix, HealthEvery: 20 * time.Millisecond}
			a, b := replicaWith(t, db, opts), replicaWith(t, db, opts)
			a.UsePlugins(rt)
			b.UsePlugins(rt)
			for range 2 {
				check(t, b, eve, position{managers: id(carol)})
			}
			var frank crm.Principal
			u, err := a.CreateUser(ctx, admin, service.NewUser{Email: "frank@acme.test", ManagerID: eve.User.ID})
			if err != nil {
				t.Fatal(err)
			}
			if frank, err = a.PrincipalFor(ctx, in, u); err != nil {
				t.Fatal(err)
			}
			check(t, b, eve, position{managers: id(carol), reports: id(frank)})
		})
	})
}

// TestPluginsGetRolePeers checks what a plugin's policy hook and routes
// are told of the users who share a user's role: the others of the same
// role in the same install, and nobody of another role or install. The users exist before the plugin is activated, so that
// no cached policy predates them.
func TestPluginsGetRolePeers(t *testing.T) {
	rt := hierarchyPlugins(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, err := service.New(db)
		if err != nil {
			t.Fatal(err)
		}
		svc.UsePlugins(rt)
		in, err := svc.CreateInstall(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		other, err := svc.CreateInstall(ctx, "globex", "")
		if err != nil {
			t.Fatal(err)
		}
		admin := login(t, svc, in, "admin@acme.test", crm.RoleAdmin)
		for _, a := range []crm.Principal{admin, login(t, svc, other, "admin@globex.test", crm.RoleAdmin)} {
			for _, role := range []string{"support", "sales"} {
				if _, err := svc.PutRole(ctx, a, crm.Role{Name: role}); err != nil {
					t.Fatal(err)
				}
			}
		}
		sam := login(t, svc, in, "sam@acme.test", "support")
		sue := login(t, svc, in, "sue@acme.test", "support")
		tom := login(t, svc, in, "tom@acme.test", "support")
		rex := login(t, svc, in, "rex@acme.test", "sales")
		login(t, svc, other, "sid@globex.test", "support") // same role name, another install
		if _, err := svc.SetPluginActive(ctx, admin, "hierarchy", true); err != nil {
			t.Fatal(err)
		}
		ids := func(ps ...crm.Principal) []string {
			var out []string
			for _, p := range ps {
				out = append(out, p.User.ID)
			}
			return slices.Sorted(slices.Values(out))
		}
		for _, c := range []struct {
			p    crm.Principal
			want []string
		}{{sam, ids(sue, tom)}, {sue, ids(sam, tom)}, {tom, ids(sam, sue)}, {rex, nil}} {
			for range 2 { // computed, then cached
				if got := fromPolicy(t, svc, c.p).peers; !slices.Equal(got, c.want) {
					t.Errorf("the policy hook got %s's role peers %v, want %v", c.p.User.Email, got, c.want)
				}
			}
			if got := fromRoute(t, svc, c.p).peers; !slices.Equal(got, c.want) {
				t.Errorf("the routes got %s's role peers %v, want %v", c.p.User.Email, got, c.want)
			}
		}
		opp, err := svc.CreateRecord(ctx, admin, service.NewRecord{Type: crm.TypeOpportunity, Data: map[string]any{"name": "O"}, OwnerID: sue.User.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !allowed(t, svc, sam, sdk.ActionView, opp) || allowed(t, svc, rex, sdk.ActionView, opp) {
			t.Fatal("sue's opportunity: sam should see it through the role, rex should not")
		}
	})
}
