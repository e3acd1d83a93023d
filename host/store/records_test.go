package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func TestRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		acct := mustRecord(t, db, f.install.ID, crm.TypeAccount, "Acme Corp", "", f.alice.ID, nil)
		lead := mustRecord(t, db, f.install.ID, crm.TypeLead, "Big_Deal 100%", f.alice.ID, f.alice.ID, nil)
		contact := mustRecord(t, db, f.install.ID, crm.TypeContact, "Wile E", f.bob.ID, f.bob.ID, &crm.Ref{Type: crm.TypeAccount, ID: acct.ID})
		foreign := mustRecord(t, db, f.otherInstall.ID, crm.TypeLead, "Globex lead", "", f.mallory.ID, nil)

		t.Run("GetRoundTrip", func(t *testing.T) {
			got, err := db.Record(ctx, f.install.ID, crm.TypeContact, contact.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.OwnerID != f.bob.ID || got.Parent == nil || got.Parent.ID != acct.ID || got.Name() != "Wile E" || got.Version != 1 {
				t.Fatalf("got %+v", got)
			}
		})
		t.Run("NoCrossInstallOrType", func(t *testing.T) {
			if _, err := db.Record(ctx, f.install.ID, crm.TypeLead, foreign.ID, false); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("record of another install found: %v", err)
			}
			if _, err := db.Record(ctx, f.install.ID, crm.TypeContact, lead.ID, false); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("lead found as a contact: %v", err)
			}
		})
		t.Run("ErrReferenceOwnerOfAnotherInstall", func(t *testing.T) {
			r := crm.Record{ID: crm.NewID(), InstallID: f.install.ID, Type: crm.TypeLead, OwnerID: f.mallory.ID, CreatedBy: f.alice.ID,
				Data: map[string]any{"name": "x"}, Version: 1, CreatedAt: t0, UpdatedAt: t0}
			if err := db.InsertRecord(ctx, r); !errors.Is(err, store.ErrReference) {
				t.Fatalf("got %v, want ErrReference", err)
			}
		})
		t.Run("UpdateChecksVersion", func(t *testing.T) {
			r := lead
			r.Data = map[string]any{"name": "Big_Deal 100%", "stage": "won"}
			r.Version = 2
			if _, err := db.UpdateRecord(ctx, r, 1); err != nil {
				t.Fatal(err)
			}
			r.Version = 3
			if _, err := db.UpdateRecord(ctx, r, 1); !errors.Is(err, store.ErrStaleVersion) {
				t.Fatalf("got %v, want ErrStaleVersion", err)
			}
			got, err := db.Record(ctx, f.install.ID, crm.TypeLead, lead.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 || got.Data["stage"] != "won" {
				t.Fatalf("got version %d data %v", got.Version, got.Data)
			}
		})
		t.Run("Search", func(t *testing.T) {
			for _, tc := range []struct {
				q    string
				want []string
			}{
				{"big_deal", []string{lead.ID}},
				{"100%", []string{lead.ID}},
				{"g_d", []string{lead.ID}},
				{"b%l", nil}, // wildcards match literally
				{"ACME", []string{acct.ID}},
				{"wile e@", []string{contact.ID}},
				{"globex", nil},
			} {
				var got []string
				for _, typ := range crm.RecordTypes {
					recs, err := db.ListRecords(ctx, store.RecordQuery{InstallID: f.install.ID, Type: typ, Search: tc.q, Limit: 10})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range recs {
						got = append(got, r.ID)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("search %q: got %v, want %v", tc.q, got, tc.want)
				}
			}
		})
		t.Run("FiltersAndPredicates", func(t *testing.T) {
			unowned := mustRecord(t, db, f.install.ID, crm.TypeLead, "Unowned", "", f.bob.ID, nil)
			list := func(q store.RecordQuery) []string {
				t.Helper()
				q.InstallID, q.Type, q.Limit = f.install.ID, crm.TypeLead, 10
				recs, err := db.ListRecords(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, r := range recs {
					ids = append(ids, r.ID)
				}
				return ids
			}
			if got := list(store.RecordQuery{OwnerID: f.alice.ID}); fmt.Sprint(got) != fmt.Sprint([]string{lead.ID}) {
				t.Errorf("owner filter: got %v", got)
			}
			if got := list(store.RecordQuery{Unowned: true}); fmt.Sprint(got) != fmt.Sprint([]string{unowned.ID}) {
				t.Errorf("unowned filter: got %v", got)
			}
			pred := store.Predicate{SQL: "r.created_by = ?", Args: []any{f.bob.ID}}
			if got := list(store.RecordQuery{Where: []store.Predicate{pred}}); fmt.Sprint(got) != fmt.Sprint([]string{unowned.ID}) {
				t.Errorf("predicate: got %v", got)
			}
		})
		t.Run("KeysetPages", func(t *testing.T) {
			var want []string
			for i := range 7 {
				want = append([]string{mustRecord(t, db, f.install.ID, crm.TypeOpportunity, fmt.Sprint("opp ", i), "", f.alice.ID, nil).ID}, want...)
			}
			var got []string
			before := ""
			for {
				page, err := db.ListRecords(ctx, store.RecordQuery{InstallID: f.install.ID, Type: crm.TypeOpportunity, Before: before, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					got = append(got, r.ID)
				}
				if len(page) < 3 {
					break
				}
				before = page[len(page)-1].ID
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v (newest first, each once)", got, want)
			}
		})
		t.Run("ChildrenAndDetach", func(t *testing.T) {
			kids, err := db.ListRecords(ctx, store.RecordQuery{InstallID: f.install.ID, ParentID: acct.ID, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(kids) != 1 || kids[0].ID != contact.ID {
				t.Fatalf("children: got %v", kids)
			}
			err = db.InTx(ctx, func(tx *store.Tx) error {
				detached, err := tx.DetachChildren(ctx, f.install.ID, acct.ID, t0)
				if err != nil {
					return err
				}
				if len(detached) != 1 || detached[0].ID != contact.ID {
					t.Errorf("detached %v", detached)
				}
				return tx.DeleteRecord(ctx, f.install.ID, crm.TypeAccount, acct.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.Record(ctx, f.install.ID, crm.TypeContact, contact.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.Parent != nil || got.Version != 2 {
				t.Fatalf("after detach: parent %v version %d", got.Parent, got.Version)
			}
		})
	})
}

func TestBulkRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		var recs []crm.Record
		for i := range 1203 { // more than two statements' worth
			recs = append(recs, crm.Record{ID: crm.NewID(), InstallID: f.install.ID, Type: crm.TypeLead, OwnerID: f.alice.ID, CreatedBy: f.bob.ID,
				Data: map[string]any{"name": fmt.Sprint("lead ", i)}, Version: 1, CreatedAt: t0, UpdatedAt: t0})
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRecords(ctx, recs) }); err != nil {
			t.Fatal(err)
		}
		got, err := db.RecordsByID(ctx, f.install.ID, crm.TypeLead, []string{recs[0].ID, recs[1202].ID, crm.NewID()})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[recs[1202].ID].Name() != "lead 1202" {
			t.Fatalf("got %v", got)
		}
		other, err := db.RecordsByID(ctx, f.otherInstall.ID, crm.TypeLead, []string{recs[0].ID})
		if err != nil || len(other) != 0 {
			t.Fatalf("records of acme found through globex: %v, %v", other, err)
		}
		all, err := db.ListRecords(ctx, store.RecordQuery{InstallID: f.install.ID, Type: crm.TypeLead, Limit: 2000})
		if err != nil || len(all) != 1203 {
			t.Fatalf("listed %d, %v", len(all), err)
		}
	})
}
