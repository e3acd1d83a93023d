package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
)

// adoptedFilters are rq's conditions on the type's table (aliased r), but
// for its page and branches.
func (q *Queries) adoptedFilters(t *adopt.Type, rq RecordQuery) adopt.Cond {
	m := q.adoption.m
	var cs []adopt.Cond
	switch {
	case rq.OwnerID != "":
		cs = append(cs, m.LinkIn(t, t.Owner, "r", []string{rq.OwnerID}))
	case rq.Unowned:
		cs = append(cs, m.LinkNone(t, t.Owner, "r"))
	}
	switch {
	case rq.TeamID != "" && t.Team == nil:
		cs = append(cs, adopt.Cond{SQL: "1 = 0"})
	case rq.TeamID != "":
		cs = append(cs, m.LinkIn(t, *t.Team, "r", []string{rq.TeamID}))
	case rq.NoTeam && t.Team != nil:
		cs = append(cs, m.LinkNone(t, *t.Team, "r"))
	}
	if rq.ParentID != "" {
		if t.Parent == nil {
			cs = append(cs, adopt.Cond{SQL: "1 = 0"})
		} else {
			cs = append(cs, m.LinkIn(t, t.Parent.Link, "r", []string{rq.ParentID}))
		}
	}
	if rq.Search != "" {
		pattern := "%" + escapeLike(rq.Search) + "%"
		var ors []string
		var args []any
		for _, f := range t.Search {
			ors = append(ors, adopt.Col("r", f.Column)+" LIKE ? ESCAPE '!'")
			args = append(args, pattern)
		}
		if len(ors) == 0 {
			ors = []string{"1 = 0"}
		}
		cs = append(cs, adopt.Cond{SQL: "(" + strings.Join(ors, " OR ") + ")", Args: args})
	}
	for _, p := range rq.Where {
		cs = append(cs, adopt.Cond{SQL: "(" + p.SQL + ")", Args: p.Args})
	}
	return adopt.And(cs...)
}

func (q *Queries) adoptedPage(t *adopt.Type, rq RecordQuery) adopt.Cond {
	c := q.adoptedFilters(t, rq)
	if rq.Before != "" {
		if !adopt.ValidID(t.ID, rq.Before) {
			return adopt.Cond{SQL: "1 = 0"}
		}
		c = adopt.And(c, adopt.Cond{SQL: adopt.Col("r", t.ID) + " < ?", Args: []any{adopt.IDArg(t.ID, rq.Before)}})
	}
	return c
}

func branchCond(branch []Predicate) adopt.Cond {
	sqlText, args := joinPredicates(branch)
	return adopt.Cond{SQL: sqlText, Args: args}
}

// anyOfCond is rq's branches as one condition.
func anyOfCond(rq RecordQuery) adopt.Cond {
	if len(rq.AnyOf) == 0 {
		return adopt.Cond{}
	}
	sqlText, args := rq.anyOf()
	return adopt.Cond{SQL: sqlText, Args: args}
}

// listAdopted lists a page of an adopted type, newest id first. A few
// branches are read one page each and merged in one statement, as for
// crmguard's own table, so that each reads its own index.
func (q *Queries) listAdopted(ctx context.Context, t *adopt.Type, rq RecordQuery) ([]crm.Record, error) {
	if t == nil {
		return nil, nil
	}
	m := q.adoption.m
	page := q.adoptedPage(t, rq)
	live := t.Live("r")
	id := adopt.Col("r", t.ID)
	var recs []crm.Record
	var err error
	if n := len(rq.AnyOf); n > 1 && n <= fewBranches {
		var branches []string
		var args []any
		for _, b := range rq.AnyOf {
			c := adopt.And(live, page, branchCond(b))
			branches = append(branches, "(SELECT "+id+" AS id FROM "+m.Table(t.Table)+" r WHERE "+c.SQL+" ORDER BY "+id+" DESC LIMIT ?)")
			args = append(append(args, c.Args...), rq.Limit)
		}
		// One statement: the page of ids cut from the branches' pages,
		// and the rows of those ids.
		pageIDs := adopt.Cond{SQL: "(SELECT u.id FROM (" + strings.Join(branches, " UNION ") + ") u ORDER BY u.id DESC LIMIT ?) p JOIN " +
			m.Table(t.Table) + " r ON " + id + " = p.id", Args: append(args, rq.Limit)}
		if recs, err = q.adoptedRows(ctx, rq.InstallID, q.adoption.rows[t.RecordType].whole, pageIDs, adopt.Cond{}, ""); err != nil {
			return nil, err
		}
	} else {
		recs, err = q.adoptedRecords(ctx, rq.InstallID, t, adopt.And(page, anyOfCond(rq)), " ORDER BY "+id+" DESC LIMIT "+fmt.Sprint(rq.Limit))
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(recs, func(i, j int) bool { return adopt.CompareIDs(t.ID, recs[i].ID, recs[j].ID) > 0 })
	return recs, nil
}

func (q *Queries) countAdopted(ctx context.Context, t *adopt.Type, rq RecordQuery) (int64, error) {
	if t == nil {
		return 0, nil
	}
	c := adopt.And(t.Live("r"), q.adoptedFilters(t, rq), anyOfCond(rq))
	var n int64
	err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q.adoption.m.Table(t.Table)+" r WHERE "+c.SQL, c.Args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count records: %w", err)
	}
	return n, nil
}

func (q *Queries) countAdoptedByTeam(ctx context.Context, t *adopt.Type, rq RecordQuery) (map[string]int64, error) {
	out := map[string]int64{}
	if t == nil {
		return out, nil
	}
	m := q.adoption.m
	c := adopt.And(t.Live("r"), q.adoptedFilters(t, rq), anyOfCond(rq))
	from := " FROM " + m.Table(t.Table) + " r"
	switch {
	case t.Team == nil:
		n, err := q.countAdopted(ctx, t, rq)
		if n > 0 {
			out[""] = n
		}
		return out, err
	case !t.Team.Joined():
		col := adopt.Col("r", t.Team.Column)
		rows, err := q.q.QueryContext(ctx, "SELECT "+col+", COUNT(*)"+from+" WHERE "+c.SQL+" GROUP BY "+col, c.Args...)
		if err != nil {
			return nil, fmt.Errorf("store: count records by team: %w", err)
		}
		counts, err := collect(rows, func(scan func(...any) error) (teamCount, error) {
			var tc teamCount
			return tc, scan(&tc.team, &tc.n)
		})
		for _, tc := range counts {
			out[linkValue(*t.Team, nullable(tc.team))] += tc.n
		}
		return out, err
	}
	l := *t.Team
	rowsCond := m.JoinRows(t, l, "r", "j")
	rows, err := q.q.QueryContext(ctx, "SELECT "+adopt.Col("j", l.Column)+", COUNT(DISTINCT "+adopt.Col("r", t.ID)+")"+from+" JOIN "+m.Table(l.Table)+" j ON "+rowsCond.SQL+
		" WHERE "+c.SQL+" GROUP BY "+adopt.Col("j", l.Column), append(append([]any(nil), rowsCond.Args...), c.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: count records by team: %w", err)
	}
	counts, err := collect(rows, func(scan func(...any) error) (teamCount, error) {
		var tc teamCount
		return tc, scan(&tc.team, &tc.n)
	})
	if err != nil {
		return nil, err
	}
	for _, tc := range counts {
		out[linkValue(l, nullable(tc.team))] += tc.n
	}
	none := adopt.And(c, m.LinkNone(t, l, "r"))
	var n int64
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*)"+from+" WHERE "+none.SQL, none.Args...).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: count records without a team: %w", err)
	}
	if n > 0 {
		out[""] += n
	}
	return out, nil
}

type teamCount struct {
	team sql.NullString
	n    int64
}

func nullable(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}
