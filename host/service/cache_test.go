package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// replica is one host's service: its own store pool and cache.
func replica(t *testing.T, db *store.DB, rdb redis.UniversalClient, prefix string) *service.Service {
	t.Helper()
	return replicaWith(t, db, cache.Options{Redis: rdb, Prefix: prefix, HealthEvery: 20 * time.Millisecond})
}

func replicaWith(t *testing.T, db *store.DB, opts cache.Options, svcOpts ...service.Option) *service.Service {
	t.Helper()
	c, err := cache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	svc, err := service.New(db, append([]service.Option{service.WithCache(c)}, svcOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// login makes a user with a token and returns the principal the token
// authenticates as.
func login(t *testing.T, svc *service.Service, in crm.Install, email, role string) crm.Principal {
	t.Helper()
	ctx := context.Background()
	u, err := svc.AddUser(ctx, in, service.NewUser{Email: email, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := svc.CreateToken(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func allowed(t *testing.T, svc *service.Service, caller crm.Principal, action sdk.Action, r crm.Record) bool {
	t.Helper()
	res, err := svc.Check(context.Background(), caller, []service.CheckRequest{{Action: action, Type: r.Type, ID: r.ID}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Allowed
}

// sharedContacts makes contacts visible to their owner, to users they are
// granted to and to whoever may see their account: a policy that asks
// about grants and parents.
func sharedContacts(_ context.Context, _ crm.Principal, p sdk.Policy) (sdk.Policy, error) {
	p.SetRule(sdk.TypeContact, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{
		{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondGranted, Sources: []string{"test"}}, {Kind: sdk.CondParentAllows, Depth: 1},
	}})
	return p, nil
}

// TestWarmCheckBudget counts what a warm decision costs: no database
// statement at all and at most one Redis round trip, for a single check, a
// get and a batch — also when the policy asks about grants and parents,
// and when a get decides whether its caller may see the record's parent.
func TestWarmCheckBudget(t *testing.T) {
	var statements atomic.Int64
	db := storetest.Counted(t, store.DriverMySQL, &statements)
	rdb, prefix := cachetest.Redis(t)
	counted := redis.NewClient(rdb.Options())
	defer counted.Close()
	trips := &cachetest.Counter{}
	counted.AddHook(trips)
	// No health pings while counting: they would be counted too.
	svc := replicaWith(t, db, cache.Options{Redis: counted, Prefix: prefix, HealthEvery: time.Hour}, service.WithPolicyFilter(sharedContacts))
	ctx := context.Background()
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	alice := login(t, svc, in, "alice@acme.test", crm.RoleMember)
	bob := login(t, svc, in, "bob@acme.test", crm.RoleMember)
	create := func(p crm.Principal, nr service.NewRecord) crm.Record {
		t.Helper()
		nr.Data, nr.OwnerID = map[string]any{"name": "R"}, p.User.ID
		r, err := svc.CreateRecord(ctx, p, nr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	lead := create(bob, service.NewRecord{Type: crm.TypeLead})
	account := create(alice, service.NewRecord{Type: crm.TypeAccount})
	child := create(alice, service.NewRecord{Type: crm.TypeContact, Parent: &crm.Ref{Type: account.Type, ID: account.ID}})
	granted := create(alice, service.NewRecord{Type: crm.TypeContact})
	if err := db.InsertGrant(ctx, crm.Grant{ID: crm.NewID(), InstallID: in.ID, RecordType: granted.Type, RecordID: granted.ID,
		SubjectType: "user", SubjectID: bob.User.ID, Actions: []crm.Action{sdk.ActionView}, Source: "test", CreatedBy: alice.User.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Activities under contacts, which bob's policy decides one by one:
	// their parents are decided with each get, from the cache too.
	underGranted := create(alice, service.NewRecord{Type: crm.TypeActivity, Parent: &crm.Ref{Type: granted.Type, ID: granted.ID}})
	hiddenContact := create(alice, service.NewRecord{Type: crm.TypeContact})
	underHidden := create(alice, service.NewRecord{Type: crm.TypeActivity, Parent: &crm.Ref{Type: hiddenContact.Type, ID: hiddenContact.ID}})
	getWithParent := func(r crm.Record, visible bool) func() error {
		return func() error {
			got, err := svc.GetRecord(ctx, bob, r.Type, r.ID)
			if err == nil && (got.Parent != nil) != visible {
				err = fmt.Errorf("bob's get of %s shows its parent as %v; bob may see it: %v", r.ID, got.Parent, visible)
			}
			return err
		}
	}
	batch := []service.CheckRequest{{Action: sdk.ActionView, Type: lead.Type, ID: lead.ID}, {Action: sdk.ActionEdit, Type: lead.Type, ID: lead.ID}}
	shared := []service.CheckRequest{{Action: sdk.ActionView, Type: child.Type, ID: child.ID}, {Action: sdk.ActionView, Type: granted.Type, ID: granted.ID}}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Check", func() error { _, err := svc.Check(ctx, bob, batch[:1], false); return err }},
		{"Batch", func() error { _, err := svc.Check(ctx, bob, batch, true); return err }},
		{"Get", func() error { _, err := svc.GetRecord(ctx, bob, lead.Type, lead.ID); return err }},
		{"GrantsAndParents", func() error {
			res, err := svc.Check(ctx, bob, shared, false)
			if err == nil && (!res[0].Allowed || !res[1].Allowed) {
				t.Fatalf("bob may not see the contacts shared with him: %+v", res)
			}
			return err
		}},
		{"GetThroughParent", func() error { _, err := svc.GetRecord(ctx, bob, child.Type, child.ID); return err }},
		{"GetWithAVisibleParent", getWithParent(underGranted, true)},
		{"GetWithAHiddenParent", getWithParent(underHidden, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // warm every layer (the first snapshot may start an epoch)
				if err := tc.run(); err != nil {
					t.Fatal(err)
				}
			}
			q, r := statements.Load(), trips.Count()
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			if n := statements.Load() - q; n != 0 {
				t.Errorf("a warm %s ran %d database statements, want 0", tc.name, n)
			}
			if n := trips.Count() - r; n > 1 {
				t.Errorf("a warm %s made %d Redis round trips, want at most 1", tc.name, n)
			}
		})
	}
}

// TestReplicasHonourChangesAtOnce runs two replicas on one MySQL and one
// Redis, warms replica B, changes access on replica A, and asks B at once.
func TestReplicasHonourChangesAtOnce(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.MySQLDSN(t)
	open := func() *store.DB {
		db, err := store.Open(ctx, store.DriverMySQL, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA := open()
	if err := dbA.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := cachetest.Redis(t)
	a, b := replica(t, dbA, rdb, prefix), replica(t, open(), rdb, prefix)

	in, err := a.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	alice := login(t, a, in, "alice@acme.test", crm.RoleMember)
	admin := login(t, a, in, "admin@acme.test", crm.RoleAdmin)
	bobUser, err := a.AddUser(ctx, in, service.NewUser{Email: "bob@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	bobToken, err := a.CreateToken(ctx, bobUser, "test")
	if err != nil {
		t.Fatal(err)
	}
	bobOnB, err := b.Authenticate(ctx, bobToken)
	if err != nil {
		t.Fatal(err)
	}
	lead, err := a.CreateRecord(ctx, alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Assignment", func(t *testing.T) {
		for range 2 {
			if !allowed(t, b, bobOnB, sdk.ActionEdit, lead) {
				t.Fatal("bob may not edit an unassigned lead on B")
			}
		}
		if _, err := a.AssignRecord(ctx, alice, lead.Type, lead.ID, alice.User.ID, 0); err != nil {
			t.Fatal(err)
		}
		if allowed(t, b, bobOnB, sdk.ActionEdit, lead) {
			t.Fatal("B still lets bob edit a lead A just assigned to alice")
		}
		got, err := b.GetRecord(ctx, bobOnB, lead.Type, lead.ID)
		if err != nil || got.OwnerID != alice.User.ID {
			t.Fatalf("B serves the record before the change: %+v, %v", got, err)
		}
	})
	t.Run("Settings", func(t *testing.T) {
		off := false
		if _, err := a.UpdateSettings(ctx, admin, service.SettingsChange{AssignmentEnabled: &off}); err != nil {
			t.Fatal(err)
		}
		// With assignment off, owners restrict nothing: B must know at once.
		if !allowed(t, b, bobOnB, sdk.ActionEdit, lead) {
			t.Fatal("B did not see the settings change")
		}
	})
	t.Run("TokenRevocation", func(t *testing.T) {
		if _, err := b.GetRecord(ctx, bobOnB, lead.Type, lead.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ReplaceTokens(ctx, bobUser, "test"); err != nil {
			t.Fatal(err)
		}
		again, err := b.Authenticate(ctx, bobToken) // may come from B's memory...
		if err == nil {
			_, err = b.GetRecord(ctx, again, lead.Type, lead.ID) // ...but no operation accepts it
		}
		if crm.KindOf(err) != crm.KindUnauthenticated {
			t.Fatalf("B still accepts a revoked token: %v", err)
		}
	})
}

// TestRedisOutage stops Redis under a warm replica: reads stay right (from
// the database), changes are refused with a clear error and change nothing,
// and everything works again once Redis is back.
func TestRedisOutage(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.StartServer(t)
	svc := replica(t, storetest.SQLite(t), srv.Client(t), "p:")
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	alice := login(t, svc, in, "alice@acme.test", crm.RoleMember)
	bob := login(t, svc, in, "bob@acme.test", crm.RoleMember)
	lead, err := svc.CreateRecord(ctx, alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}, OwnerID: alice.User.ID})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if allowed(t, svc, bob, sdk.ActionEdit, lead) {
			t.Fatal("bob may edit alice's lead")
		}
	}

	srv.Stop(t)
	got, err := svc.GetRecord(ctx, bob, lead.Type, lead.ID)
	if err != nil || got.OwnerID != alice.User.ID {
		t.Fatalf("read during the outage: %+v, %v", got, err)
	}
	if allowed(t, svc, bob, sdk.ActionEdit, lead) || !allowed(t, svc, alice, sdk.ActionEdit, lead) {
		t.Fatal("a decision changed during the outage")
	}
	_, err = svc.AssignRecord(ctx, alice, lead.Type, lead.ID, bob.User.ID, 0)
	if e, ok := crm.AsError(err); !ok || e.Code != "cache_unavailable" || e.Kind != crm.KindUnavailable {
		t.Fatalf("a change during the outage answered %v, want 503 cache_unavailable", err)
	}
	if got, _ := svc.GetRecord(ctx, alice, lead.Type, lead.ID); got.OwnerID != alice.User.ID || got.Version != lead.Version {
		t.Fatalf("a refused change was written: %+v", got)
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = svc.AssignRecord(ctx, alice, lead.Type, lead.ID, bob.User.ID, 0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes still refused 10 s after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !allowed(t, svc, bob, sdk.ActionEdit, lead) || allowed(t, svc, alice, sdk.ActionEdit, lead) {
		t.Fatal("decisions after recovery do not follow the reassignment")
	}
}

// TestGrantChangesPausedWithoutRedis: while Redis is unreachable, a
// plugin's grant changes are refused like every other change, so that no
// replica can keep answering from a cached grant that a revocation made
// untrue; they go through again once Redis is back.
func TestGrantChangesPausedWithoutRedis(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.StartServer(t)
	db := storetest.SQLite(t)
	svc := replica(t, db, srv.Client(t), "p:")
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	alice := login(t, svc, in, "alice@acme.test", crm.RoleMember)
	bob := login(t, svc, in, "bob@acme.test", crm.RoleMember)
	lead, err := svc.CreateRecord(ctx, alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}, OwnerID: alice.User.ID})
	if err != nil {
		t.Fatal(err)
	}
	setActive(t, db, in.ID, true, "hello") // the host API answers plugins active in the install
	host, hello := svc.PluginHost(), plugins.WithCallingPlugin(ctx, "hello")
	create := &pluginv1.GrantCreateRequest{InstallId: in.ID, Record: &pluginv1.Ref{Type: "lead", Id: lead.ID}, SubjectType: "user",
		SubjectId: bob.User.ID, Actions: []string{"view", "edit"}, ActorId: alice.User.ID}
	g, err := host.GrantCreate(hello, create)
	if err != nil {
		t.Fatal(err)
	}
	grants := func() int {
		t.Helper()
		gs, err := db.RecordGrants(ctx, in.ID, lead.Type, lead.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(gs)
	}

	srv.Stop(t)
	for name, call := range map[string]func() error{
		"create": func() error { _, err := host.GrantCreate(hello, create); return err },
		"update": func() error {
			_, err := host.GrantUpdate(hello, &pluginv1.GrantUpdateRequest{InstallId: in.ID, GrantId: g.GetId(), Actions: []string{"view"}, ActorId: alice.User.ID})
			return err
		},
		"revoke": func() error {
			_, err := host.GrantRevoke(hello, &pluginv1.GrantRevokeRequest{InstallId: in.ID, GrantId: g.GetId(), ActorId: alice.User.ID})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "Redis") {
			t.Errorf("%s during the outage: %v, want Unavailable (cache_unavailable)", name, err)
		}
	}
	if n := grants(); n != 1 {
		t.Fatalf("%d grants after refused changes, want the 1 there was", n)
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := host.GrantRevoke(hello, &pluginv1.GrantRevokeRequest{InstallId: in.ID, GrantId: g.GetId(), ActorId: alice.User.ID})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoking still refused 10 s after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := grants(); n != 0 {
		t.Fatalf("%d grants after the revocation", n)
	}
}
