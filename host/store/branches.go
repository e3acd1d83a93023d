package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
)

// listBranches lists the records of rq allowed by any branch of rq.AnyOf,
// for databases that plan an OR of conditions on different indexes as a
// scan of the whole type (MySQL): each branch is read on its own index,
// newest first, ids only, and the branches' pages are merged.
func (q *Queries) listBranches(ctx context.Context, rq RecordQuery) ([]crm.Record, error) {
	if len(rq.AnyOf) <= fewBranches {
		return q.listFewBranches(ctx, rq)
	}
	// With many branches (a manager's fifty reports), reading a page from
	// each would read fifty pages for one, and a search, which examines
	// rows until enough match, would examine fifty times what the page
	// needs. The branches are merged in rounds instead (mergeBranches),
	// which are separate statements, so the page's records are read again
	// with the whole filter: a record whose access changed between the
	// rounds is never returned, and the page is listed again (a few times
	// at most) so that it comes out whole.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		refs, err := q.mergeBranches(ctx, rq)
		if err != nil || len(refs) == 0 {
			return nil, err
		}
		recs, err := q.recordsAllowed(ctx, rq, refs)
		if err != nil || len(recs) == len(refs) || attempt == attempts {
			return recs, err
		}
	}
}

// fewBranches is the most branches listed in one statement, a page from
// each.
const fewBranches = 4

// listFewBranches lists in one statement: a page of ids from each branch
// (a page of the union is within the union of the branches' pages), the
// page cut from those ids, each once, and only its records read.
func (q *Queries) listFewBranches(ctx context.Context, rq RecordQuery) ([]crm.Record, error) {
	where, args := rq.pageFilters()
	var branches []string
	var branchArgs []any
	for _, branch := range rq.AnyOf {
		cond, condArgs := joinPredicates(branch)
		branches = append(branches, "(SELECT r.type, r.id FROM crmguard_records r"+rq.branchIndex(branch)+" WHERE "+strings.Join(where, " AND ")+
			" AND "+cond+" ORDER BY r.id DESC LIMIT ?)")
		branchArgs = append(append(append(branchArgs, args...), condArgs...), rq.Limit)
	}
	query := "SELECT " + recordColumns + " FROM (SELECT u.type, u.id FROM (" + strings.Join(branches, " UNION ") + ") u ORDER BY u.id DESC LIMIT ?) p" +
		" JOIN crmguard_records r ON r.install_id = ? AND r.type = p.type AND r.id = p.id"
	rows, err := q.q.QueryContext(ctx, query, append(branchArgs, rq.Limit, rq.InstallID)...)
	if err != nil {
		return nil, fmt.Errorf("store: list records: %w", err)
	}
	recs, err := collect(rows, scanRecord)
	// The join keeps no order; a page is sorted here rather than by one
	// more sort in the database.
	slices.SortFunc(recs, func(a, b crm.Record) int { return strings.Compare(b.ID, a.ID) })
	return recs, err
}

// branchRead is where the merge of one branch stands.
type branchRead struct {
	last string // the oldest id read so far; "" before the first round
	next int    // ids to read in the next round
	done bool   // every id of the branch has been read
}

// mergeBranches returns the ids of the first rq.Limit records, newest
// first, of the union of rq's branches. The branches are merged like
// sorted lists: each round reads, from every branch that may still hold
// one of the page's records, ids below those it read last, twice as many
// as the time before; it stops when no branch can add a record newer than
// the page's last. A page whose records come from many branches thus
// reads about a page of ids in all.
func (q *Queries) mergeBranches(ctx context.Context, rq RecordQuery) ([]crm.Ref, error) {
	where, args := rq.filters()
	reads := make([]branchRead, len(rq.AnyOf))
	// Twice a fair share of the page from each branch at first; a branch
	// that holds more of it is read again. Without a search a branch's
	// statement costs about the same for a few ids more, so each reads at
	// least eight and a second round is rare; a search examines rows
	// until enough match, and reads no more than it must.
	least := 8
	if rq.Search != "" {
		least = 2
	}
	first := min(rq.Limit, max(least, (2*rq.Limit+len(rq.AnyOf)-1)/len(rq.AnyOf)))
	for i := range reads {
		reads[i] = branchRead{last: rq.Before, next: first}
	}
	seen := map[crm.Ref]bool{}
	var refs []crm.Ref
	for {
		// The page's last record so far: a branch whose last id read is
		// older can add nothing to the page.
		var cut string
		if len(refs) >= rq.Limit {
			cut = refs[rq.Limit-1].ID
		}
		var parts []string
		var partArgs []any
		asked := make([]bool, len(reads))
		for i, br := range reads {
			if br.done || (cut != "" && br.last <= cut) {
				continue
			}
			asked[i] = true
			cond, condArgs := joinPredicates(rq.AnyOf[i])
			part := "(SELECT " + strconv.Itoa(i) + " AS b, r.type, r.id FROM crmguard_records r" + rq.branchIndex(rq.AnyOf[i]) +
				" WHERE " + strings.Join(where, " AND ") + " AND " + cond
			partArgs = append(append(partArgs, args...), condArgs...)
			if br.last != "" {
				part += " AND r.id < ?"
				partArgs = append(partArgs, br.last)
			}
			parts = append(parts, part+" ORDER BY r.id DESC LIMIT ?)")
			partArgs = append(partArgs, br.next)
		}
		if len(parts) == 0 {
			break
		}
		rows, err := q.q.QueryContext(ctx, strings.Join(parts, " UNION ALL "), partArgs...)
		if err != nil {
			return nil, fmt.Errorf("store: list records: %w", err)
		}
		type branchRef struct {
			branch int
			ref    crm.Ref
		}
		read, err := collect(rows, func(scan func(...any) error) (branchRef, error) {
			var r branchRef
			err := scan(&r.branch, &r.ref.Type, &r.ref.ID)
			return r, err
		})
		if err != nil {
			return nil, err
		}
		counts := make([]int, len(reads))
		for _, r := range read {
			counts[r.branch]++
			if br := &reads[r.branch]; br.last == "" || r.ref.ID < br.last {
				br.last = r.ref.ID
			}
			if !seen[r.ref] {
				seen[r.ref] = true
				refs = append(refs, r.ref)
			}
		}
		for i := range reads {
			if !asked[i] {
				continue
			}
			if counts[i] < reads[i].next {
				reads[i].done = true
			}
			reads[i].next = min(2*reads[i].next, rq.Limit)
		}
		slices.SortFunc(refs, func(a, b crm.Ref) int { return strings.Compare(b.ID, a.ID) })
	}
	return refs[:min(len(refs), rq.Limit)], nil
}

// recordsAllowed reads the records of refs that rq (with its branches)
// still selects, newest first.
func (q *Queries) recordsAllowed(ctx context.Context, rq RecordQuery, refs []crm.Ref) ([]crm.Record, error) {
	where, args := rq.filters()
	cond, condArgs := rq.anyOf()
	keys := make([]string, len(refs))
	for i, ref := range refs {
		keys[i] = "(r.type = ? AND r.id = ?)"
		args = append(args, ref.Type, ref.ID)
	}
	where = append(where, "("+strings.Join(keys, " OR ")+")", cond)
	// The primary key finds the page's records; left to choose, the
	// planner weighs every index the branches name first, which costs
	// more than the reads.
	rows, err := q.q.QueryContext(ctx, "SELECT "+recordColumns+" FROM crmguard_records r FORCE INDEX (PRIMARY) WHERE "+strings.Join(where, " AND ")+
		" ORDER BY r.id DESC", append(args, condArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: list records: %w", err)
	}
	return collect(rows, scanRecord)
}
