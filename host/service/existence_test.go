package service_test

import (
	"context"
	"errors"
	"strings"
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

// TestAbsenceIsCachedLikeARecord checks that the cached answer "no such
// record" lasts exactly as long as a cached record would: a record that
// appears under the id (written to the store behind the service's back,
// as an import or an adopted CRM would) is seen once the record's or the
// install's counter changes, through a get and through a check.
func TestAbsenceIsCachedLikeARecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rdb, prefix := cachetest.Redis(t)
		svc := replica(t, db, rdb, prefix)
		in, err := svc.CreateInstall(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		admin := login(t, svc, in, "admin@acme.test", crm.RoleAdmin)
		alice := login(t, svc, in, "alice@acme.test", crm.RoleMember)
		tok, err := svc.CreateServiceToken(ctx, in, "crm")
		if err != nil {
			t.Fatal(err)
		}
		app, err := svc.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		appear := func(id string) {
			t.Helper()
			now := time.Now().UTC().Truncate(time.Millisecond)
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return tx.InsertRecord(ctx, crm.Record{ID: id, InstallID: in.ID, Type: crm.TypeLead, CreatedBy: admin.User.ID,
					Data: map[string]any{"name": "Late"}, Version: 1, CreatedAt: now, UpdatedAt: now})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		get := func(id string) error { _, err := svc.GetRecord(ctx, alice, crm.TypeLead, id); return err }
		check := func(id string) error {
			res, err := svc.Check(ctx, alice, []service.CheckRequest{{Action: sdk.ActionView, Type: crm.TypeLead, ID: id}}, false)
			if err == nil && !res[0].Allowed {
				err = crm.ErrRecordNotFound
			}
			return err
		}
		for _, tc := range []struct {
			name string
			ask  func(id string) error
			void func(id string)
		}{
			{"GetUntilTheRecordChanges", get, func(id string) {
				if err := svc.RecordChanged(ctx, app, crm.TypeLead, id); err != nil {
					t.Fatal(err)
				}
			}},
			{"CheckUntilTheRecordChanges", check, func(id string) {
				if err := svc.RecordChanged(ctx, app, crm.TypeLead, id); err != nil {
					t.Fatal(err)
				}
			}},
			{"GetUntilTheInstallChanges", get, func(string) {
				off := false
				if _, err := svc.UpdateSettings(ctx, admin, service.SettingsChange{AssignmentEnabled: &off}); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := crm.NewID()
				for range 2 {
					if err := tc.ask(id); !errors.Is(err, crm.ErrRecordNotFound) {
						t.Fatalf("a missing id: %v", err)
					}
				}
				appear(id)
				if err := tc.ask(id); !errors.Is(err, crm.ErrRecordNotFound) {
					t.Fatalf("the absence was not cached: %v", err)
				}
				tc.void(id)
				if err := tc.ask(id); err != nil {
					t.Fatalf("the record is still answered as missing after its counter changed: %v", err)
				}
			})
		}
		t.Run("DeleteVoidsTheRecord", func(t *testing.T) {
			r, err := svc.CreateRecord(ctx, alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "Gone"}})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := get(r.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := svc.DeleteRecord(ctx, alice, r.Type, r.ID, 0); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := get(r.ID); !errors.Is(err, crm.ErrRecordNotFound) {
					t.Fatalf("a deleted record: %v", err)
				}
			}
		})
	})
}

// TestProbesLeaveOnlyExpiringEntries asks for ids that name no record, as
// someone guessing would: what that leaves in Redis are copies that expire
// within the cache's TTL, never a counter (counters do not expire).
func TestProbesLeaveOnlyExpiringEntries(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := cachetest.Redis(t)
	const ttl = 5 * time.Minute
	svc := replicaWith(t, storetest.SQLite(t), cache.Options{Redis: rdb, Prefix: prefix, TTL: ttl, HealthEvery: 20 * time.Millisecond},
		service.WithPolicyFilter(ownedOrGrantedLeads))
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	bob := login(t, svc, in, "bob@acme.test", crm.RoleMember)
	var probed []string
	for range 20 {
		id := crm.NewID()
		probed = append(probed, id)
		if _, err := svc.GetRecord(ctx, bob, crm.TypeLead, id); !errors.Is(err, crm.ErrRecordNotFound) {
			t.Fatalf("a missing id: %v", err)
		}
		if _, err := svc.Check(ctx, bob, []service.CheckRequest{{Action: sdk.ActionEdit, Type: crm.TypeContact, ID: id}}, false); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, k := range keys {
		if !containsAny(k, probed) {
			continue
		}
		entries++
		if !strings.Contains(k, "}:v:") {
			t.Errorf("a probe left %s in Redis, which does not expire", k)
			continue
		}
		if left := rdb.TTL(ctx, k).Val(); left <= 0 || left > ttl {
			t.Errorf("%s expires in %v, want within %v", k, left, ttl)
		}
	}
	// Per id and type asked about: the absence and the grants a decision
	// looked for.
	if entries == 0 || entries > 4*len(probed) {
		t.Errorf("%d probes left %d entries", len(probed), entries)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
