package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// withRole creates a custom role that may add the given types (nil: every
// type) and a user of it.
func (w world) withRole(t *testing.T, name string, add []crm.RecordType) crm.Principal {
	t.Helper()
	ctx := context.Background()
	if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: name, Add: add}); err != nil {
		t.Fatal(err)
	}
	u, err := w.svc.AddUser(ctx, w.admin.Install, service.NewUser{Email: name + "@acme.test", Role: name})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.svc.PrincipalFor(ctx, w.admin.Install, u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// again is p as the service finds them now: a principal without a token
// is taken as given, so a test reads it again after changing its role.
func (w world) again(t *testing.T, p crm.Principal) crm.Principal {
	t.Helper()
	fresh, err := w.svc.PrincipalFor(context.Background(), p.Install, p.User)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func (w world) count(t *testing.T, typ crm.RecordType) int64 {
	t.Helper()
	n, err := w.svc.CountRecords(context.Background(), w.admin, typ, service.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func named(name string) map[string]any { return map[string]any{"name": name} }

func TestAddPerRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		hunter := w.withRole(t, "lead-hunter", []crm.RecordType{crm.TypeLead})
		reader := w.withRole(t, "reader", []crm.RecordType{})

		t.Run("ARoleAddsOnlyItsTypes", func(t *testing.T) {
			_, err := w.svc.CreateRecord(ctx, hunter, service.NewRecord{Type: crm.TypeContact, Data: named("Wile")})
			wantCode(t, err, "add_not_allowed")
			if e, _ := crm.AsError(err); e.Kind != crm.KindForbidden || e.Message != "your role may not add contact records" {
				t.Fatalf("refusal: %+v", e)
			}
			if n := w.count(t, crm.TypeContact); n != 0 {
				t.Fatalf("%d contacts after a refused create", n)
			}
			if _, err := w.svc.CreateRecord(ctx, hunter, service.NewRecord{Type: crm.TypeLead, Data: named("Road Runner")}); err != nil {
				t.Fatal(err)
			}
			for _, typ := range crm.RecordTypes {
				_, err := w.svc.CreateRecord(ctx, reader, service.NewRecord{Type: typ, Data: named("Nope")})
				wantCode(t, err, "add_not_allowed")
			}
		})
		t.Run("BuiltInRolesAndAdminsAddEverything", func(t *testing.T) {
			for _, p := range []crm.Principal{w.alice, w.carol, w.admin} {
				if _, err := w.svc.CreateRecord(ctx, p, service.NewRecord{Type: crm.TypeContact, Data: named("Any")}); err != nil {
					t.Fatalf("%s: %v", p.Role.Name, err)
				}
			}
			boss := w.withRole(t, "boss", []crm.RecordType{})
			if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "boss", Capabilities: []crm.Capability{crm.CapAdmin}, Add: []crm.RecordType{}}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.CreateRecord(ctx, w.again(t, boss), service.NewRecord{Type: crm.TypeContact, Data: named("Admin's")}); err != nil {
				t.Fatalf("an admin role adding nothing may not add: %v", err)
			}
		})
		t.Run("MayAdd", func(t *testing.T) {
			for _, tc := range []struct {
				p    crm.Principal
				want []crm.RecordType
			}{{hunter, []crm.RecordType{crm.TypeLead}}, {reader, []crm.RecordType{}}, {w.alice, crm.RecordTypes}, {w.admin, crm.RecordTypes}} {
				if got, err := w.svc.MayAdd(ctx, tc.p); err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("%s may add %v (%v), want %v", tc.p.Role.Name, got, err, tc.want)
				}
			}
		})
		t.Run("AChangeOfTheRoleCountsAtOnce", func(t *testing.T) {
			if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "lead-hunter", Add: []crm.RecordType{crm.TypeLead, crm.TypeContact}}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.CreateRecord(ctx, w.again(t, hunter), service.NewRecord{Type: crm.TypeContact, Data: named("Now allowed")}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "lead-hunter", Add: []crm.RecordType{crm.TypeLead}}); err != nil {
				t.Fatal(err)
			}
			_, err := w.svc.CreateRecord(ctx, w.again(t, hunter), service.NewRecord{Type: crm.TypeContact, Data: named("Refused again")})
			wantCode(t, err, "add_not_allowed")
		})
		t.Run("PutRoleChecksTheTypes", func(t *testing.T) {
			_, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "lead-hunter", Add: []crm.RecordType{crm.TypeLead, "invoice"}})
			wantCode(t, err, "invalid_add")
			if e, _ := crm.AsError(err); e.Message != `add: unknown record type "invoice"; the record types are lead, contact, account, opportunity and activity` {
				t.Fatalf("message: %s", e.Message)
			}
			r, err := w.svc.Role(ctx, w.admin, "lead-hunter")
			if err != nil || !slices.Equal(r.Add, []crm.RecordType{crm.TypeLead}) {
				t.Fatalf("a refused change altered the role: %+v, %v", r, err)
			}
			// Repeats and order do not matter; the types keep their order.
			if _, err := w.svc.PutRole(ctx, w.admin, crm.Role{Name: "closer", Add: []crm.RecordType{"opportunity", "lead", "opportunity"}}); err != nil {
				t.Fatal(err)
			}
			if r, _ := w.svc.Role(ctx, w.admin, "closer"); !slices.Equal(r.Add, []crm.RecordType{crm.TypeLead, crm.TypeOpportunity}) {
				t.Fatalf("stored %v", r.Add)
			}
		})
		t.Run("TheDecisionAPIAsksAboutAdd", func(t *testing.T) {
			app := crm.Principal{Install: w.admin.Install, Service: true}
			results, err := w.svc.Check(ctx, app, []service.CheckRequest{
				{UserID: hunter.User.ID, Action: sdk.ActionAdd, Type: crm.TypeContact},
				{UserID: hunter.User.ID, Action: sdk.ActionAdd, Type: crm.TypeLead},
				{UserID: reader.User.ID, Action: sdk.ActionAdd, Type: crm.TypeLead},
				{UserID: w.admin.User.ID, Action: sdk.ActionAdd, Type: crm.TypeLead},
			}, true)
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, r := range results {
				got = append(got, r.Allowed)
			}
			if !slices.Equal(got, []bool{false, true, false, true}) || results[0].Reason == nil || results[0].Reason.Missing {
				t.Fatalf("add checks: %v %+v", got, results[0].Reason)
			}
			_, err = w.svc.Check(ctx, app, []service.CheckRequest{{UserID: hunter.User.ID, Action: sdk.ActionAdd, Type: crm.TypeLead, ID: crm.NewID()}}, false)
			wantCode(t, err, "invalid_id")
			_, err = w.svc.Filter(ctx, app, hunter.User.ID, sdk.ActionAdd, crm.TypeLead, "")
			wantCode(t, err, "invalid_action")
			if e, _ := crm.AsError(err); e.Kind != crm.KindInvalid {
				t.Fatalf("filter with add: %+v", e)
			}
		})
	})
}

// addRules is a policy filter for members: a contact is added only for
// oneself, an activity only under a record whose type's add rule allows
// the parent, and an account only for oneself, and accounts are seen
// only when one's own or unassigned.
func addRules(_ context.Context, p crm.Principal, policy sdk.Policy) (sdk.Policy, error) {
	if p.Role.Name != crm.RoleMember {
		return policy, nil
	}
	own := sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}}}
	policy.SetRule(sdk.TypeContact, sdk.ActionAdd, own)
	policy.SetRule(sdk.TypeAccount, sdk.ActionAdd, own)
	policy.SetRule(sdk.TypeActivity, sdk.ActionAdd, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondParentAllows, Depth: 1}}})
	policy.SetRule(sdk.TypeAccount, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondUnowned}}})
	return policy, nil
}

// TestAddDecidesTheProposedRecord: the add rule's conditions are decided
// on the record as proposed (owner, creator, team, parent); a parent the
// user may not see is refused as a missing one.
func TestAddDecidesTheProposedRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, service.WithPolicyFilter(addRules))
		alice, bob := w.alice.User.ID, w.bob.User.ID
		create := func(p crm.Principal, typ crm.RecordType, owner string, parent *crm.Record) (crm.Record, error) {
			nr := service.NewRecord{Type: typ, Data: named("x"), OwnerID: owner}
			if parent != nil {
				nr.Parent = &crm.Ref{Type: parent.Type, ID: parent.ID}
			}
			return w.svc.CreateRecord(ctx, p, nr)
		}
		if _, err := create(w.alice, crm.TypeContact, alice, nil); err != nil {
			t.Fatalf("a contact for oneself: %v", err)
		}
		_, err := create(w.alice, crm.TypeContact, bob, nil)
		wantCode(t, err, "add_not_allowed")
		if e, _ := crm.AsError(err); e.Message != "you may not add this contact as proposed: the rules for adding contact records do not allow its owner, team or parent" {
			t.Fatalf("refusal: %s", e.Message)
		}
		_, err = create(w.alice, crm.TypeContact, "", nil)
		wantCode(t, err, "add_not_allowed")

		mine, err := create(w.alice, crm.TypeAccount, alice, nil)
		if err != nil {
			t.Fatal(err)
		}
		bobs, err := create(w.bob, crm.TypeAccount, bob, nil)
		if err != nil {
			t.Fatal(err)
		}
		open, err := create(w.admin, crm.TypeAccount, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := create(w.alice, crm.TypeActivity, "", &mine); err != nil {
			t.Fatalf("an activity under one's own account: %v", err)
		}
		_, err = create(w.alice, crm.TypeActivity, "", &open)
		wantCode(t, err, "add_not_allowed") // visible, but not hers
		_, err = create(w.alice, crm.TypeActivity, "", &bobs)
		wantCode(t, err, "invalid_parent") // invisible: as if missing
		missing := crm.Record{Type: crm.TypeAccount, ID: crm.NewID()}
		_, err = create(w.alice, crm.TypeActivity, "", &missing)
		wantCode(t, err, "invalid_parent")
		if n := w.count(t, crm.TypeActivity); n != 1 {
			t.Fatalf("%d activities, want the one allowed", n)
		}
	})
}

// TestAddIsDecidedBeforeTheHooks: a create the add rule refuses reaches
// no plugin's before-write hook (hello would refuse a lead without an
// e-mail with its own code) and leaves no event for after-write hooks.
func TestAddIsDecidedBeforeTheHooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withHello(t, w.svc)
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "hello", true); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hello", json.RawMessage(`{"required_fields":{"lead":["email"]}}`)); err != nil {
			t.Fatal(err)
		}
		reader := w.withRole(t, "reader", []crm.RecordType{crm.TypeContact})
		_, err := w.svc.CreateRecord(ctx, reader, service.NewRecord{Type: crm.TypeLead, Data: named("No mail")})
		wantCode(t, err, "add_not_allowed")
		if n, _ := db.PendingEvents(ctx); n != 0 {
			t.Fatalf("%d events after a refused create", n)
		}
		// A create the role may make goes through the hooks as before.
		_, err = w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: named("No mail")})
		wantCode(t, err, "missing_field")
		if _, err := w.svc.CreateRecord(ctx, reader, service.NewRecord{Type: crm.TypeContact, Data: named("Fine")}); err != nil {
			t.Fatal(err)
		}
		w.svc.DeliverDue(ctx)
		if got := helloWrites(t, w.svc, w.alice); got["create"] != 1 {
			t.Fatalf("hello heard %v, want the one create that was stored", got)
		}
	})
}
