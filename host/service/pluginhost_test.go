package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// testClock is a clock a test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ownedOrGrantedLeads lets members see only the leads they own or that
// plugin hello granted them: a policy like the sharing plugins build.
func ownedOrGrantedLeads(_ context.Context, p crm.Principal, policy sdk.Policy) (sdk.Policy, error) {
	if policy.Admin {
		return policy, nil
	}
	policy.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondGranted, Sources: []string{"hello"}}}})
	return policy, nil
}

// setActive stores plugins' activations in an install directly, as if the
// host ran them and an admin had switched them; the host API answers a
// plugin only in installs that have it active.
func setActive(t *testing.T, db *store.DB, installID string, active bool, ids ...string) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		for _, id := range ids {
			a := crm.PluginActivation{InstallID: installID, PluginID: id, Active: active, Settings: json.RawMessage(`{}`), UpdatedAt: time.Now()}
			if err := tx.PutPluginActivation(context.Background(), a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func TestHostAPIGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &testClock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
		w := newWorld(t, db, service.WithClock(clock.now), service.WithPolicyFilter(ownedOrGrantedLeads))
		withPlugins(t, w.svc, helloPackage, hierarchyPackage)
		host := w.svc.PluginHost()
		p1 := plugins.WithCallingPlugin(context.Background(), "hello")
		p2 := plugins.WithCallingPlugin(context.Background(), "hierarchy")
		acme := w.alice.Install.ID
		setActive(t, db, acme, true, "hello", "hierarchy")
		setActive(t, db, w.mallory.Install.ID, true, "hello")
		lead := w.create(t, w.alice, crm.TypeLead, "Road Runner", w.alice.User.ID, nil)
		ref := &pluginv1.Ref{Type: "lead", Id: lead.ID}
		bobSees := func() bool {
			_, err := w.svc.GetRecord(context.Background(), w.bob, crm.TypeLead, lead.ID)
			if err != nil && !errors.Is(err, crm.ErrRecordNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		if bobSees() { // and the answer is cached now
			t.Fatal("bob sees alice's lead before any grant")
		}

		g, err := host.GrantCreate(p1, &pluginv1.GrantCreateRequest{InstallId: acme, Record: ref, SubjectType: "user",
			SubjectId: w.bob.User.ID, Actions: []string{"view"}, ExpiresAtMs: clock.now().Add(time.Hour).UnixMilli(), ActorId: w.alice.User.ID})
		if err != nil || g.GetSource() != "hello" {
			t.Fatalf("create: %v, %v", g, err)
		}
		if !bobSees() {
			t.Fatal("the grant did not reach bob: a cached refusal outlived it")
		}
		t.Run("AnotherPluginsGrantsAreNotItsOwn", func(t *testing.T) {
			_, err := host.GrantRevoke(p2, &pluginv1.GrantRevokeRequest{InstallId: acme, GrantId: g.GetId()})
			wantStatus(t, err, codes.NotFound)
			list, err := host.GrantList(p2, &pluginv1.GrantListRequest{InstallId: acme})
			if err != nil || len(list.GetGrants()) != 0 {
				t.Fatalf("p2 lists %v, %v", list, err)
			}
		})
		t.Run("ListByStateAndFilter", func(t *testing.T) {
			list, err := host.GrantList(p1, &pluginv1.GrantListRequest{InstallId: acme, SubjectId: w.bob.User.ID})
			if err != nil || len(list.GetGrants()) != 1 || list.GetGrants()[0].GetId() != g.GetId() {
				t.Fatalf("active: %v, %v", list, err)
			}
			list, _ = host.GrantList(p1, &pluginv1.GrantListRequest{InstallId: acme, State: "expired"})
			if len(list.GetGrants()) != 0 {
				t.Fatalf("expired before its time: %v", list)
			}
			_, err = host.GrantList(p1, &pluginv1.GrantListRequest{InstallId: acme, State: "gone"})
			wantStatus(t, err, codes.InvalidArgument)
		})
		t.Run("BadInput", func(t *testing.T) {
			for name, req := range map[string]*pluginv1.GrantCreateRequest{
				"UnknownUser":          {InstallId: acme, Record: ref, SubjectType: "user", SubjectId: crm.NewID(), Actions: []string{"view"}},
				"UserOfAnotherInstall": {InstallId: acme, Record: ref, SubjectType: "user", SubjectId: w.mallory.User.ID, Actions: []string{"view"}},
				"DeleteWithoutEdit":    {InstallId: acme, Record: ref, SubjectType: "user", SubjectId: w.bob.User.ID, Actions: []string{"view", "delete"}},
				"NoActions":            {InstallId: acme, Record: ref, SubjectType: "user", SubjectId: w.bob.User.ID},
				"PastExpiry":           {InstallId: acme, Record: ref, SubjectType: "user", SubjectId: w.bob.User.ID, Actions: []string{"view"}, ExpiresAtMs: clock.now().Add(-time.Second).UnixMilli()},
				"BadSubjectType":       {InstallId: acme, Record: ref, SubjectType: "role", SubjectId: w.bob.User.ID, Actions: []string{"view"}},
			} {
				t.Run(name, func(t *testing.T) {
					_, err := host.GrantCreate(p1, req)
					wantStatus(t, err, codes.InvalidArgument)
				})
			}
			// A record of acme named in globex's install is not there.
			_, err := host.GrantCreate(p1, &pluginv1.GrantCreateRequest{InstallId: w.mallory.Install.ID, Record: ref, SubjectType: "user",
				SubjectId: w.mallory.User.ID, Actions: []string{"view"}})
			wantStatus(t, err, codes.NotFound)
		})
		t.Run("ExpiryNeedsNoInvalidation", func(t *testing.T) {
			clock.add(time.Hour)
			if bobSees() {
				t.Fatal("bob still sees the lead after the grant expired")
			}
			list, _ := host.GrantList(p1, &pluginv1.GrantListRequest{InstallId: acme, State: "expired"})
			if len(list.GetGrants()) != 1 {
				t.Fatalf("expired: %v", list)
			}
		})
		t.Run("UpdateAndRevoke", func(t *testing.T) {
			_, err := host.GrantUpdate(p1, &pluginv1.GrantUpdateRequest{InstallId: acme, GrantId: g.GetId(), SetExpiresAt: true})
			if err != nil || !bobSees() {
				t.Fatalf("a grant made to never expire: %v, sees %v", err, bobSees())
			}
			if _, err := host.GrantRevoke(p1, &pluginv1.GrantRevokeRequest{InstallId: acme, GrantId: g.GetId(), ActorId: w.alice.User.ID}); err != nil {
				t.Fatal(err)
			}
			if bobSees() {
				t.Fatal("bob sees the lead after the revocation returned")
			}
		})
		t.Run("AccessHistoryShowsEveryChange", func(t *testing.T) {
			h, err := w.svc.RecordAccess(context.Background(), w.alice, crm.TypeLead, lead.ID, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range h.History {
				actions = append(actions, e.Action)
			}
			if got, want := strings.Join(actions, ","), "record.create,record.assign,grant.create,grant.update,grant.revoke"; got != want {
				t.Fatalf("history %s, want %s", got, want)
			}
		})
	})
}

func TestHostAPIReadsAsAUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, service.WithPolicyFilter(ownedOrGrantedLeads))
		withPlugins(t, w.svc, helloPackage, hierarchyPackage)
		host := w.svc.PluginHost()
		ctx := plugins.WithCallingPlugin(context.Background(), "hello")
		acme := w.alice.Install.ID
		setActive(t, db, acme, true, "hello")
		setActive(t, db, w.mallory.Install.ID, true, "hello")
		lead := w.create(t, w.alice, crm.TypeLead, "Road Runner", w.alice.User.ID, nil)
		ref := &pluginv1.Ref{Type: "lead", Id: lead.ID}

		if r, err := host.RecordGet(ctx, &pluginv1.RecordGetRequest{InstallId: acme, Record: ref}); err != nil || r.GetOwnerId() != w.alice.User.ID {
			t.Fatalf("get: %v, %v", r, err)
		}
		_, err := host.RecordGet(ctx, &pluginv1.RecordGetRequest{InstallId: acme, Record: ref, AsUserId: w.bob.User.ID})
		wantStatus(t, err, codes.NotFound)
		_, err = host.RecordGet(ctx, &pluginv1.RecordGetRequest{InstallId: w.mallory.Install.ID, Record: ref})
		wantStatus(t, err, codes.NotFound)

		list, err := host.RecordList(ctx, &pluginv1.RecordListRequest{InstallId: acme, Type: "lead", OwnerId: w.alice.User.ID})
		if err != nil || len(list.GetRecords()) != 1 {
			t.Fatalf("list by owner: %v, %v", list, err)
		}
		list, err = host.RecordList(ctx, &pluginv1.RecordListRequest{InstallId: acme, Type: "lead", AsUserId: w.bob.User.ID})
		if err != nil || len(list.GetRecords()) != 0 {
			t.Fatalf("bob's list: %v, %v", list, err)
		}
		check, err := host.Check(ctx, &pluginv1.CheckRequest{InstallId: acme, UserId: w.bob.User.ID, Action: "view", Records: []*pluginv1.Ref{ref}})
		if err != nil || len(check.GetAllowed()) != 1 || check.GetAllowed()[0] {
			t.Fatalf("bob's check: %v, %v", check, err)
		}
		check, err = host.Check(ctx, &pluginv1.CheckRequest{InstallId: acme, UserId: w.alice.User.ID, Action: "edit", Records: []*pluginv1.Ref{ref}})
		if err != nil || !check.GetAllowed()[0] {
			t.Fatalf("alice's check: %v, %v", check, err)
		}

		u, err := host.UserGet(ctx, &pluginv1.UserGetRequest{InstallId: acme, UserId: w.carol.User.ID})
		if err != nil || u.GetRole() != crm.RoleManager || u.GetEmail() != "carol@acme.test" {
			t.Fatalf("user: %v, %v", u, err)
		}
		_, err = host.UserGet(ctx, &pluginv1.UserGetRequest{InstallId: acme, UserId: w.mallory.User.ID})
		wantStatus(t, err, codes.NotFound)
		users, err := host.UserList(ctx, &pluginv1.UserListRequest{InstallId: acme, Limit: 3})
		if err != nil || len(users.GetUsers()) != 3 || users.GetNextCursor() == "" {
			t.Fatalf("users: %v, %v", users, err)
		}
		rest, err := host.UserList(ctx, &pluginv1.UserListRequest{InstallId: acme, Cursor: users.GetNextCursor()})
		if err != nil || len(rest.GetUsers()) != 1 || rest.GetNextCursor() != "" {
			t.Fatalf("second page: %v, %v", rest, err)
		}
		team, err := w.svc.CreateTeam(context.Background(), w.admin, "Sales")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetTeamMembers(context.Background(), w.admin, team.ID, []crm.Membership{{UserID: w.bob.User.ID, Primary: true}}); err != nil {
			t.Fatal(err)
		}
		teams, err := host.TeamList(ctx, &pluginv1.TeamListRequest{InstallId: acme})
		if err != nil || len(teams.GetTeams()) != 1 || len(teams.GetTeams()[0].GetMembers()) != 1 || !teams.GetTeams()[0].GetMembers()[0].GetPrimary() {
			t.Fatalf("teams: %v, %v", teams, err)
		}
		roles, err := host.RoleList(ctx, &pluginv1.RoleListRequest{InstallId: acme})
		if err != nil || len(roles.GetRoles()) != 3 {
			t.Fatalf("roles: %v, %v", roles, err)
		}
	})
}

func TestHostAPIAuditAndInvalidate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var computed sync.Map // user id -> policy computations
		counting := func(_ context.Context, p crm.Principal, policy sdk.Policy) (sdk.Policy, error) {
			n, _ := computed.LoadOrStore(p.User.ID, new(int))
			*n.(*int)++
			return policy, nil
		}
		w := newWorld(t, db, service.WithPolicyFilter(counting))
		withPlugins(t, w.svc, helloPackage, hierarchyPackage)
		host := w.svc.PluginHost()
		ctx := plugins.WithCallingPlugin(context.Background(), "hello")
		acme := w.alice.Install.ID
		setActive(t, db, acme, true, "hello")
		lead := w.create(t, w.alice, crm.TypeLead, "Road Runner", "", nil)

		_, err := host.AuditAppend(ctx, &pluginv1.AuditAppendRequest{InstallId: acme, Action: "share.added",
			Record: &pluginv1.Ref{Type: "lead", Id: lead.ID}, ActorId: w.alice.User.ID, DetailJson: []byte(`{"with":"bob"}`)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := w.svc.RecordAccess(context.Background(), w.alice, crm.TypeLead, lead.ID, service.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := h.History[len(h.History)-1]
		if last.Action != "hello.share.added" || last.Detail["plugin"] != "hello" || last.Detail["with"] != "bob" || last.ActorID != w.alice.User.ID {
			t.Fatalf("audit: %+v", last)
		}
		for name, req := range map[string]*pluginv1.AuditAppendRequest{
			"BadAction":     {InstallId: acme, Action: "Share Added"},
			"DetailNotJSON": {InstallId: acme, Action: "x", DetailJson: []byte(`[1]`)},
			"ForeignActor":  {InstallId: acme, Action: "x", ActorId: w.mallory.User.ID},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := host.AuditAppend(ctx, req)
				wantStatus(t, err, codes.InvalidArgument)
			})
		}

		views := func(p crm.Principal) int {
			if _, err := w.svc.GetRecord(context.Background(), p, crm.TypeLead, lead.ID); err != nil {
				t.Fatal(err)
			}
			n, _ := computed.Load(p.User.ID)
			return *n.(*int)
		}
		bob, alice := views(w.bob), views(w.alice)
		if views(w.bob) != bob {
			t.Fatal("bob's policy was computed again without a change")
		}
		if _, err := host.Invalidate(ctx, &pluginv1.InvalidateRequest{InstallId: acme, UserId: w.bob.User.ID}); err != nil {
			t.Fatal(err)
		}
		if views(w.bob) != bob+1 || views(w.alice) != alice {
			t.Fatal("invalidating bob's policy did not recompute bob's alone")
		}
		if _, err := host.Invalidate(ctx, &pluginv1.InvalidateRequest{InstallId: acme}); err != nil {
			t.Fatal(err)
		}
		if views(w.bob) != bob+2 || views(w.alice) != alice+1 {
			t.Fatal("invalidating the install did not recompute everyone's policy")
		}
		_, err = host.Invalidate(ctx, &pluginv1.InvalidateRequest{InstallId: acme, UserId: w.mallory.User.ID})
		wantStatus(t, err, codes.NotFound)
		_, err = host.Invalidate(context.Background(), &pluginv1.InvalidateRequest{InstallId: acme})
		wantStatus(t, err, codes.PermissionDenied) // no plugin named in the call
	})
}

// mailbox is a Mailer that keeps what it is given, or refuses with fail.
type mailbox struct {
	mu   sync.Mutex
	sent []string
	fail error
}

func (m *mailbox) Send(_ context.Context, to, subject, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, to+": "+subject)
	return nil
}

func TestHostAPINotify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Run("OutboxWithoutMailServer", func(t *testing.T) {
			w := newWorld(t, db)
			setActive(t, db, w.alice.Install.ID, true, "delegation")
			ctx := plugins.WithCallingPlugin(context.Background(), "delegation")
			_, err := w.svc.PluginHost().Notify(ctx, &pluginv1.NotifyRequest{InstallId: w.alice.Install.ID,
				UserIds: []string{w.alice.User.ID, w.bob.User.ID}, Subject: "Lead delegated", Body: "Road Runner, until Friday"})
			if err != nil {
				t.Fatal(err)
			}
			notes, _, err := w.svc.Notifications(context.Background(), w.bob, service.NotificationQuery{})
			if err != nil || len(notes) != 1 || notes[0].State != store.NotificationOutbox || notes[0].Source != "delegation" || notes[0].Subject != "Lead delegated" {
				t.Fatalf("bob's notifications: %+v, %v", notes, err)
			}
			_, _, err = w.svc.Notifications(context.Background(), w.bob, service.NotificationQuery{All: true})
			wantCode(t, err, "admin_only")
			all, _, err := w.svc.Notifications(context.Background(), w.admin, service.NotificationQuery{All: true})
			if err != nil || len(all) != 2 {
				t.Fatalf("the admin's view: %+v, %v", all, err)
			}
			mine, _, err := w.svc.Notifications(context.Background(), w.mallory, service.NotificationQuery{All: true})
			if err != nil || len(mine) != 0 {
				t.Fatalf("globex sees acme's notifications: %+v, %v", mine, err)
			}
			for name, req := range map[string]*pluginv1.NotifyRequest{
				"NoUsers":     {InstallId: w.alice.Install.ID, Subject: "x"},
				"ForeignUser": {InstallId: w.alice.Install.ID, UserIds: []string{w.mallory.User.ID}, Subject: "x"},
				"NoSubject":   {InstallId: w.alice.Install.ID, UserIds: []string{w.bob.User.ID}},
				"TwoLines":    {InstallId: w.alice.Install.ID, UserIds: []string{w.bob.User.ID}, Subject: "a\r\nBcc: x"},
			} {
				t.Run(name, func(t *testing.T) {
					_, err := w.svc.PluginHost().Notify(ctx, req)
					wantStatus(t, err, codes.InvalidArgument)
				})
			}
		})
	})
	t.Run("MailServer", func(t *testing.T) {
		db := storetest.SQLite(t)
		box := &mailbox{}
		w := newWorld(t, db, service.WithMailer(box))
		setActive(t, db, w.alice.Install.ID, true, "delegation")
		ctx := plugins.WithCallingPlugin(context.Background(), "delegation")
		if _, err := w.svc.PluginHost().Notify(ctx, &pluginv1.NotifyRequest{InstallId: w.alice.Install.ID, UserIds: []string{w.bob.User.ID}, Subject: "Hi"}); err != nil {
			t.Fatal(err)
		}
		box.fail = errors.New("550 mailbox unavailable")
		if _, err := w.svc.PluginHost().Notify(ctx, &pluginv1.NotifyRequest{InstallId: w.alice.Install.ID, UserIds: []string{w.bob.User.ID}, Subject: "Again"}); err != nil {
			t.Fatal(err) // kept, and marked failed
		}
		notes, _, err := w.svc.Notifications(context.Background(), w.bob, service.NotificationQuery{})
		if err != nil || len(notes) != 2 {
			t.Fatalf("%+v, %v", notes, err)
		}
		if notes[0].State != store.NotificationFailed || !strings.Contains(notes[0].Error, "550") || notes[1].State != store.NotificationSent {
			t.Fatalf("states: %+v", notes)
		}
		if len(box.sent) != 1 || box.sent[0] != "bob@acme.test: Hi" {
			t.Fatalf("sent: %v", box.sent)
		}
	})
}

func TestHostAPIKVIsPerPluginAndInstall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		host := w.svc.PluginHost()
		p1 := plugins.WithCallingPlugin(context.Background(), "p1")
		p2 := plugins.WithCallingPlugin(context.Background(), "p2")
		acme, globex := w.alice.Install.ID, w.mallory.Install.ID
		setActive(t, db, acme, true, "p1", "p2")
		setActive(t, db, globex, true, "p1")
		// A plugin has no access to an install that has not activated it.
		_, err := host.KVGet(p2, &pluginv1.KVGetRequest{InstallId: globex, Key: "k"})
		wantStatus(t, err, codes.PermissionDenied)
		setActive(t, db, globex, false, "p1")
		_, err = host.KVGet(p1, &pluginv1.KVGetRequest{InstallId: globex, Key: "k"})
		wantStatus(t, err, codes.PermissionDenied)
		setActive(t, db, globex, true, "p1")
		if _, err := host.KVSet(p1, &pluginv1.KVSetRequest{InstallId: acme, Key: "k", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			ctx     context.Context
			install string
			found   bool
		}{{p1, acme, true}, {p2, acme, false}, {p1, globex, false}} {
			got, err := host.KVGet(c.ctx, &pluginv1.KVGetRequest{InstallId: c.install, Key: "k"})
			if err != nil || got.GetFound() != c.found {
				t.Fatalf("%v: %v, %v", c, got, err)
			}
		}
		_, err = host.KVGet(p1, &pluginv1.KVGetRequest{InstallId: crm.NewID(), Key: "k"})
		wantStatus(t, err, codes.NotFound)
		// An empty value is a value: the key is there.
		if _, err := host.KVSet(p1, &pluginv1.KVSetRequest{InstallId: acme, Key: "seen"}); err != nil {
			t.Fatal(err)
		}
		if got, err := host.KVGet(p1, &pluginv1.KVGetRequest{InstallId: acme, Key: "seen"}); err != nil || !got.GetFound() {
			t.Fatalf("empty value: %v, %v", got, err)
		}
	})
}

// TestGrantsOfInactivePluginsCountForNothing: a policy may name any plugin
// as a source of grants, but only the grants of plugins active in the
// install count (DESIGN §6).
func TestGrantsOfInactivePluginsCountForNothing(t *testing.T) {
	rt := hierarchyPlugins(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.svc.UsePlugins(rt)
		if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hierarchy", json.RawMessage(`{"grants_from":["hierarchy","ghost"]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "hierarchy", true); err != nil {
			t.Fatal(err)
		}
		account := w.create(t, w.admin, crm.TypeAccount, "ACME Corp", "", nil)
		ref := &pluginv1.Ref{Type: "account", Id: account.ID}
		host := w.svc.PluginHost()
		grant := func(source string, to crm.Principal) {
			t.Helper()
			_, err := host.GrantCreate(plugins.WithCallingPlugin(ctx, source), &pluginv1.GrantCreateRequest{InstallId: w.admin.Install.ID,
				Record: ref, SubjectType: "user", SubjectId: to.User.ID, Actions: []string{"view"}})
			if err != nil {
				t.Fatal(err)
			}
		}
		grant("hierarchy", w.alice)
		// ghost makes a grant while active, then the install turns it off.
		setActive(t, db, w.admin.Install.ID, true, "ghost")
		grant("ghost", w.bob)
		setActive(t, db, w.admin.Install.ID, false, "ghost")
		if _, err := host.Invalidate(plugins.WithCallingPlugin(ctx, "hierarchy"), &pluginv1.InvalidateRequest{InstallId: w.admin.Install.ID}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			who  crm.Principal
			want bool
		}{{w.alice, true}, {w.bob, false}} {
			_, err := w.svc.GetRecord(ctx, c.who, crm.TypeAccount, account.ID)
			if got := err == nil; got != c.want {
				t.Errorf("%s sees the account: %v (%v), want %v", c.who.User.Email, got, err, c.want)
			}
		}
	})
}

func TestHostAPITeamCountsAndMoves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, service.WithPolicyFilter(ownedOrGrantedLeads))
		withPlugins(t, w.svc, helloPackage)
		host := w.svc.PluginHost()
		ctx := plugins.WithCallingPlugin(context.Background(), "hello")
		acme := w.alice.Install.ID
		setActive(t, db, acme, true, "hello")
		bg := context.Background()
		team := func(p crm.Principal, name string) string {
			tm, err := w.svc.CreateTeam(bg, p, name)
			if err != nil {
				t.Fatal(err)
			}
			return tm.ID
		}
		sales, support := team(w.admin, "Sales"), team(w.admin, "Support")
		elsewhere := team(w.mallory, "Elsewhere")
		lead := func(p crm.Principal, teamID string) crm.Record {
			r, err := w.svc.CreateRecord(bg, p, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}, OwnerID: p.User.ID, TeamID: teamID})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		// A user's teams come primary first, whatever order they joined.
		for _, m := range []struct {
			team    string
			primary bool
		}{{sales, false}, {support, true}} {
			if _, err := w.svc.SetTeamMembers(bg, w.admin, m.team, []crm.Membership{{UserID: w.bob.User.ID, Primary: m.primary}}); err != nil {
				t.Fatal(err)
			}
		}
		if u, err := host.UserGet(ctx, &pluginv1.UserGetRequest{InstallId: acme, UserId: w.bob.User.ID}); err != nil || !slices.Equal(u.GetTeams(), []string{support, sales}) {
			t.Fatalf("bob's teams: %v, %v; want support (primary), then sales", u.GetTeams(), err)
		}
		a1, a2, _, unteamed, b1 := lead(w.alice, sales), lead(w.alice, sales), lead(w.alice, support), lead(w.alice, ""), lead(w.bob, sales)
		count := func(asUser string, want int64, wantByTeam map[string]int64) {
			t.Helper()
			c, err := host.RecordCount(ctx, &pluginv1.RecordCountRequest{InstallId: acme, Type: "lead", AsUserId: asUser})
			if err != nil {
				t.Fatal(err)
			}
			if c.GetCount() != want || len(c.GetByTeam()) != len(wantByTeam) {
				t.Fatalf("count as %q: %d %v, want %d %v", asUser, c.GetCount(), c.GetByTeam(), want, wantByTeam)
			}
			for id, n := range wantByTeam {
				if c.GetByTeam()[id] != n {
					t.Fatalf("count as %q: %v, want %v", asUser, c.GetByTeam(), wantByTeam)
				}
			}
		}
		count("", 5, map[string]int64{sales: 3, support: 1, "": 1})
		count(w.bob.User.ID, 1, map[string]int64{sales: 1}) // bob sees his own lead only

		move := func(p crm.Principal, m *pluginv1.RecordsMoveTeamRequest) (int64, error) {
			m.InstallId, m.Type, m.ActorId = acme, "lead", p.User.ID
			resp, err := host.RecordsMoveTeam(ctx, m)
			return resp.GetMoved(), err
		}
		_, err := move(w.bob, &pluginv1.RecordsMoveTeamRequest{FromTeamId: sales, ToTeamId: support})
		wantStatus(t, err, codes.PermissionDenied) // administrators only
		_, err = move(w.admin, &pluginv1.RecordsMoveTeamRequest{Ids: []string{a1.ID, crm.NewID()}, ToTeamId: support})
		wantStatus(t, err, codes.InvalidArgument) // one unknown record: none moves
		_, err = move(w.admin, &pluginv1.RecordsMoveTeamRequest{Ids: []string{a1.ID, unteamed.ID}, FromTeamId: sales, ToTeamId: support})
		wantStatus(t, err, codes.InvalidArgument) // one not in the team named
		_, err = move(w.admin, &pluginv1.RecordsMoveTeamRequest{FromTeamId: sales, ToTeamId: elsewhere})
		wantStatus(t, err, codes.InvalidArgument) // another install's team
		count("", 5, map[string]int64{sales: 3, support: 1, "": 1})

		n, err := move(w.admin, &pluginv1.RecordsMoveTeamRequest{FromTeamId: sales, ToTeamId: support})
		if err != nil || n != 3 {
			t.Fatalf("move of the sales team: %d, %v", n, err)
		}
		count("", 5, map[string]int64{support: 4, "": 1})
		n, err = move(w.admin, &pluginv1.RecordsMoveTeamRequest{Ids: []string{unteamed.ID, a2.ID}, ToTeamId: "none"})
		if err != nil || n != 1 {
			t.Fatalf("move of two leads to no team: %d, %v (one was there already)", n, err)
		}
		count("", 5, map[string]int64{support: 3, "": 2})

		moved, err := w.svc.GetRecord(bg, w.bob, crm.TypeLead, b1.ID)
		if err != nil || moved.TeamID != support || moved.Version != b1.Version+1 {
			t.Fatalf("bob's lead after the move: %+v, %v", moved, err)
		}
		h, err := w.svc.RecordAccess(bg, w.admin, crm.TypeLead, b1.ID, service.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := h.History[len(h.History)-1]
		change, _ := last.Detail["team"].(map[string]any)
		if last.Action != crm.AuditRecordUpdate || change["from"] != sales || change["to"] != support || last.Detail["bulk"] != true {
			t.Fatalf("the move's audit: %s %v", last.Action, last.Detail)
		}
	})
}
