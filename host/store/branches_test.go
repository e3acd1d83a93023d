package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestAnyOfPages checks that a list filtered by branches (a UNION on MySQL)
// pages exactly like the same filter written as one OR, and that both
// count what they list.
func TestAnyOfPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		var recs []crm.Record
		for i := range 300 {
			owner := []string{f.alice.ID, f.bob.ID, ""}[i%3]
			recs = append(recs, crm.Record{ID: crm.NewID(), InstallID: f.install.ID, Type: crm.TypeLead, OwnerID: owner, CreatedBy: f.bob.ID,
				Data: map[string]any{"name": fmt.Sprint("lead ", i%7)}, Version: 1, CreatedAt: t0, UpdatedAt: t0})
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRecords(ctx, recs) }); err != nil {
			t.Fatal(err)
		}
		branches := [][]store.Predicate{
			{{SQL: "r.owner_id = ?", Args: []any{f.alice.ID}}},
			{{SQL: "r.owner_id IS NULL"}, {SQL: "r.created_by = ?", Args: []any{f.bob.ID}}},
			{{SQL: "r.owner_id = ?", Args: []any{f.alice.ID}}, {SQL: "r.created_by = ?", Args: []any{f.bob.ID}}}, // overlaps the first
		}
		or := store.Predicate{SQL: "r.owner_id = ? OR (r.owner_id IS NULL AND r.created_by = ?)", Args: []any{f.alice.ID, f.bob.ID}}
		for _, search := range []string{"", "lead 3"} {
			base := store.RecordQuery{InstallID: f.install.ID, Type: crm.TypeLead, Search: search, Limit: 17}
			withBranches, withOr := base, base
			withBranches.AnyOf = branches
			withOr.Where = []store.Predicate{or}
			got, want := storetest.ListedIDs(t, db, withBranches), storetest.ListedIDs(t, db, withOr)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("search %q: branches list %d records, the OR %d", search, len(got), len(want))
			}
			for _, q := range []store.RecordQuery{withBranches, withOr} {
				if n, err := db.CountRecords(ctx, q); err != nil || n != int64(len(want)) {
					t.Fatalf("search %q: counted %d (%v), listed %d", search, n, err, len(want))
				}
			}
		}
	})
}

// TestAnyOfManyBranches lists through forty branches, one per owner (a
// manager's reports), over records most of which one owner holds: the
// branches are merged over several rounds, some read far deeper than
// others. Every page, with and without a search, from the start and from
// the middle, equals the same filter written as one OR.
func TestAnyOfManyBranches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		var owners []string
		for i := range 40 {
			owners = append(owners, mustUser(t, db, f.install.ID, fmt.Sprintf("rep%02d@acme.test", i), crm.RoleMember, "").ID)
		}
		var recs []crm.Record
		for i := range 400 {
			owner := owners[0] // the busy one
			switch {
			case i%5 == 0:
				owner = owners[i%len(owners)]
			case i%7 == 0:
				owner = "" // unowned: only alice's drafts are in a branch
			case i%11 == 0:
				owner = f.bob.ID // in no branch
			}
			recs = append(recs, crm.Record{ID: crm.NewID(), InstallID: f.install.ID, Type: crm.TypeLead, OwnerID: owner, CreatedBy: f.alice.ID,
				Data: map[string]any{"name": fmt.Sprint("lead ", i%9)}, Version: 1, CreatedAt: t0, UpdatedAt: t0})
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRecords(ctx, recs) }); err != nil {
			t.Fatal(err)
		}
		var branches [][]store.Predicate
		or := store.Predicate{SQL: "(r.created_by = ? AND r.owner_id IS NULL)", Args: []any{f.alice.ID}}
		for _, o := range owners {
			branches = append(branches, []store.Predicate{{SQL: "r.owner_id = ?", Args: []any{o}, Index: "owner_id"}})
			or.SQL += " OR r.owner_id = ?"
			or.Args = append(or.Args, o)
		}
		branches = append(branches, []store.Predicate{{SQL: "r.created_by = ?", Args: []any{f.alice.ID}, Index: "created_by"}, {SQL: "r.owner_id IS NULL"}})

		for _, limit := range []int{7, 51, 200} {
			for _, search := range []string{"", "lead 3", "lead 9"} {
				base := store.RecordQuery{InstallID: f.install.ID, Type: crm.TypeLead, Search: search, Limit: limit}
				withBranches, withOr := base, base
				withBranches.AnyOf = branches
				withOr.Where = []store.Predicate{or}
				got, want := storetest.ListedIDs(t, db, withBranches), storetest.ListedIDs(t, db, withOr)
				if search != "lead 9" && len(want) == 0 {
					t.Fatalf("limit %d, search %q: the OR lists nothing", limit, search)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d, search %q: branches list %d records, the OR %d", limit, search, len(got), len(want))
				}
				if len(want) > 2 {
					// From the middle of the list.
					withBranches.Before, withOr.Before = want[len(want)/2], want[len(want)/2]
					if got, want := storetest.ListedIDs(t, db, withBranches), storetest.ListedIDs(t, db, withOr); !slices.Equal(got, want) {
						t.Fatalf("limit %d, search %q, from the middle: branches list %d records, the OR %d", limit, search, len(got), len(want))
					}
				}
			}
		}
	})
}

// TestAnyOfRecheck changes a record's owner while its branch is being
// listed on MySQL (where branches are merged over several statements),
// after its id was read and before its record is: the page never shows
// it, and still comes out whole.
func TestAnyOfRecheck(t *testing.T) {
	ctx := context.Background()
	var db *store.DB
	statements, moveAt := 0, -1
	var moved crm.Record
	db = storetest.Observed(t, store.DriverMySQL, func() {
		statements++
		if statements != moveAt {
			return
		}
		moved.OwnerID, moved.Version = "", moved.Version+1 // unassigned, alice created it: in no branch
		if _, err := db.UpdateRecord(ctx, moved, moved.Version-1); err != nil {
			t.Error(err)
		}
	})
	f := newFixture(t, db)
	var idle []string // users who own nothing
	for i := range 3 {
		idle = append(idle, mustUser(t, db, f.install.ID, fmt.Sprintf("idle%d@acme.test", i), crm.RoleMember, "").ID)
	}
	var recs []crm.Record
	for i := range 30 {
		owner := []string{f.alice.ID, f.bob.ID}[i%2]
		recs = append(recs, mustRecord(t, db, f.install.ID, crm.TypeLead, fmt.Sprint("lead ", i), owner, f.alice.ID, nil))
	}
	// Branches enough to be merged in rounds: the owner changes after
	// the first round has read the record's id.
	q := store.RecordQuery{InstallID: f.install.ID, Type: crm.TypeLead, Limit: 10}
	for _, owner := range []string{f.alice.ID, f.bob.ID, idle[0], idle[1], idle[2]} {
		q.AnyOf = append(q.AnyOf, []store.Predicate{{SQL: "r.owner_id = ?", Args: []any{owner}, Index: "owner_id"}})
	}
	moved, statements, moveAt = recs[len(recs)-1], 0, 2
	page, err := db.ListRecords(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if moveAt > statements {
		t.Fatalf("the listing ran %d statements; the owner was not changed", statements)
	}
	var got []string
	for _, r := range page {
		got = append(got, r.ID)
	}
	var want []string
	for i := len(recs) - 2; len(want) < q.Limit; i-- {
		want = append(want, recs[i].ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want the ten newest but the one moved away: %v", got, want)
	}
}
