package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
)

// ErrAdopted refuses what only the adopted CRM does to its records:
// create and delete them.
var ErrAdopted = errors.New("store: the CRM creates and deletes its own records")

// adoption is the install whose records are rows of an adopted CRM's
// tables.
type adoption struct {
	installID string
	m         *adopt.Mapping
	rows      map[crm.RecordType]typeRows // how each type's rows are read
}

// typeRows are the ways a type's rows are read: whole, or for a decision
// only the facts a policy asks about, with or without the teams (a join
// table costs a subquery a row).
type typeRows struct {
	whole, facts, factsTeams adoptedRow
}

// Adopt serves the records of install installID from the CRM tables m
// maps, in the store's own transactions. Call it before the store is used.
func (db *DB) Adopt(installID string, m *adopt.Mapping) {
	a := &adoption{installID: installID, m: m, rows: map[crm.RecordType]typeRows{}}
	for rt, t := range m.Types {
		a.rows[rt] = typeRows{whole: rowOf(m, t, true, true), facts: rowOf(m, t, false, false), factsTeams: rowOf(m, t, false, true)}
	}
	db.Queries.adoption = a
}

// Adoption returns the mapping of install installID, nil when its records
// are crmguard's own.
func (q *Queries) Adoption(installID string) *adopt.Mapping {
	if q.adoption == nil || q.adoption.installID != installID {
		return nil
	}
	return q.adoption.m
}

// mapped is the table of type t of an adopted install; adopted is false
// for a native install. An adopted install's unmapped types have no
// records.
func (q *Queries) mapped(installID string, t crm.RecordType) (mt *adopt.Type, adopted bool) {
	m := q.Adoption(installID)
	if m == nil {
		return nil, false
	}
	return m.Types[t], true
}

// adoptedRow is how a type's rows are read: the select list (with its
// arguments), and where each fact is in it. It is worked out once, when
// the store adopts the CRM.
type adoptedRow struct {
	t           *adopt.Type
	data, teams bool // whether the data and the teams are read
	cols        []string
	sel         string // cols, joined
	args        []any
}

func rowOf(m *adopt.Mapping, t *adopt.Type, data, teams bool) adoptedRow {
	r := adoptedRow{t: t, data: data, teams: teams}
	add := func(c adopt.Column) { r.cols = append(r.cols, adopt.Col("r", c)) }
	// A link kept in a join table is read in the same statement, its
	// values joined by spaces (which ids never hold).
	link := func(l adopt.Link) {
		if !l.Joined() {
			add(l.Column)
			return
		}
		c := m.JoinRows(t, l, "r", "j")
		r.cols = append(r.cols, "(SELECT GROUP_CONCAT("+adopt.Col("j", l.Column)+" ORDER BY "+adopt.Col("j", l.Column)+" SEPARATOR ' ') FROM "+
			m.Table(l.Table)+" j WHERE "+c.SQL+")")
		r.args = append(r.args, c.Args...)
	}
	add(t.ID)
	link(t.Owner)
	if t.Team != nil && teams {
		link(*t.Team)
	}
	if t.Creator != nil {
		add(*t.Creator)
	}
	if t.Parent != nil {
		link(t.Parent.Link)
	}
	if !data {
		r.sel = strings.Join(r.cols, ", ")
		return r
	}
	for _, f := range t.Fields {
		add(f.Column)
	}
	if t.CreatedAt != nil {
		add(*t.CreatedAt)
	}
	if t.UpdatedAt != nil {
		add(*t.UpdatedAt)
	}
	r.sel = strings.Join(r.cols, ", ")
	return r
}

// scan reads one row into a record.
func (ar adoptedRow) scan(installID string) func(func(...any) error) (adoptedRecord, error) {
	return func(scan func(...any) error) (adoptedRecord, error) {
		raw := make([]sql.NullString, len(ar.cols))
		dest := make([]any, len(raw))
		for i := range raw {
			dest[i] = &raw[i]
		}
		if err := scan(dest...); err != nil {
			return adoptedRecord{}, err
		}
		vals := make([]*string, len(raw))
		for i := range raw {
			if raw[i].Valid {
				vals[i] = &raw[i].String
			}
		}
		t := ar.t
		rec := crm.Record{InstallID: installID, Type: t.RecordType, Data: map[string]any{}}
		i := 0
		next := func() *string { v := vals[i]; i++; return v }
		rec.ID = *next()
		rec.OwnerID, rec.OtherOwners = linkValues(t.Owner, next())
		if t.Team != nil && ar.teams {
			rec.TeamID, rec.OtherTeams = linkValues(*t.Team, next())
		}
		if t.Creator != nil {
			if v := next(); v != nil {
				rec.CreatedBy = *v
			}
		}
		if t.Parent != nil {
			if id, _ := linkValues(t.Parent.Link, next()); id != "" {
				rec.Parent = &crm.Ref{Type: t.Parent.RecordType, ID: id}
			}
		}
		if !ar.data {
			return adoptedRecord{Record: rec, row: vals}, nil
		}
		for _, f := range t.Fields {
			rec.Data[f.Name] = adopt.FromColumn(f.Column, next())
		}
		if t.CreatedAt != nil {
			rec.CreatedAt = adopt.TimeOf(t.CreatedAt, next())
		}
		if t.UpdatedAt != nil {
			rec.UpdatedAt = adopt.TimeOf(t.UpdatedAt, next())
		}
		nameOf(t, &rec)
		return adoptedRecord{Record: rec, row: vals}, nil
	}
}

// adoptedRecord is a record with the raw values of its row, from which
// its version is worked out once its join tables are read too.
type adoptedRecord struct {
	crm.Record
	row []*string
}

func (r *adoptedRecord) finish() crm.Record {
	parts := append([]*string(nil), r.row...)
	for _, v := range append([]string{r.OwnerID}, r.OtherOwners...) {
		parts = append(parts, &v)
	}
	parts = append(parts, nil)
	for _, v := range append([]string{r.TeamID}, r.OtherTeams...) {
		parts = append(parts, &v)
	}
	if r.Parent != nil {
		parts = append(parts, &r.Parent.ID)
	}
	r.Version = adopt.Version(parts...)
	return r.Record
}

// nameOf gives a record the display name its mapping composes, unless a
// column holds it.
func nameOf(t *adopt.Type, r *crm.Record) {
	if _, mapped := t.Field("name"); mapped || len(t.Name) == 0 {
		return
	}
	var parts []string
	for _, f := range t.Name {
		if s, ok := r.Data[f.Name].(string); ok && s != "" {
			parts = append(parts, s)
		}
	}
	r.Data["name"] = strings.Join(parts, " ")
}

// linkValues are a link's ids: the first and the others ("" and none when
// it has none). A join table's come space-separated.
func linkValues(l adopt.Link, raw *string) (string, []string) {
	if !l.Joined() {
		return linkValue(l, raw), nil
	}
	if raw == nil {
		return "", nil
	}
	var ids []string
	for _, v := range strings.Fields(*raw) {
		if id := linkValue(l, &v); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], ids[1:]
}

// linkValue is a link column's value as an id, "" for the values that
// mean none.
func linkValue(l adopt.Link, raw *string) string {
	if raw == nil || l.IsNone(*raw) {
		return ""
	}
	return *raw
}

// adoptedRecords reads the live records of type t that where selects, in
// no particular order, with the facts kept in join tables.
func (q *Queries) adoptedRecords(ctx context.Context, installID string, t *adopt.Type, where adopt.Cond, suffix string) ([]crm.Record, error) {
	return q.adoptedRows(ctx, installID, q.adoption.rows[t.RecordType].whole, adopt.Cond{SQL: q.adoption.m.Table(t.Table) + " r"}, where, suffix)
}

// adoptedRows reads the live records of type t from from, which names the
// type's table r (joined to the page of ids it should read, for a list).
func (q *Queries) adoptedRows(ctx context.Context, installID string, ar adoptedRow, from, where adopt.Cond, suffix string) ([]crm.Record, error) {
	t := ar.t
	cond := adopt.And(t.Live("r"), where)
	rows, err := q.q.QueryContext(ctx, "SELECT "+ar.sel+" FROM "+from.SQL+" WHERE "+cond.SQL+suffix,
		append(append(append([]any(nil), ar.args...), from.Args...), cond.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: read %s rows of %s: %w", t.RecordType, t.Table, err)
	}
	recs, err := collect(rows, ar.scan(installID))
	if err != nil {
		return nil, err
	}
	out := make([]crm.Record, len(recs))
	for i := range recs {
		out[i] = recs[i].finish()
	}
	return out, nil
}

func nullable(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// idIn is the condition that a row's id is one of ids; ids the column
// cannot hold match nothing.
func idIn(t *adopt.Type, alias string, ids []string) adopt.Cond {
	var args []any
	for _, id := range ids {
		if adopt.ValidID(t.ID, id) {
			args = append(args, adopt.IDArg(t.ID, id))
		}
	}
	if len(args) == 0 {
		return adopt.Cond{SQL: "1 = 0"}
	}
	return adopt.Cond{SQL: adopt.Col(alias, t.ID) + " IN (" + placeholders(len(args)) + ")", Args: args}
}

func (q *Queries) adoptedRecord(ctx context.Context, installID string, t *adopt.Type, id string, forUpdate bool) (crm.Record, error) {
	if t == nil || !adopt.ValidID(t.ID, id) {
		return crm.Record{}, fmt.Errorf("store: record: %w", ErrNotFound)
	}
	suffix := ""
	if forUpdate {
		suffix = q.dialect.forUpdate()
	}
	recs, err := q.adoptedRecords(ctx, installID, t, idIn(t, "r", []string{id}), suffix)
	if err != nil {
		return crm.Record{}, err
	}
	if len(recs) == 0 {
		return crm.Record{}, fmt.Errorf("store: record: %w", ErrNotFound)
	}
	return recs[0], nil
}

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

func (q *Queries) adoptedIDs(ctx context.Context, query string, args []any) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list records: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (string, error) {
		var id string
		return id, scan(&id)
	})
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

// updateAdopted writes a record's changed facts and data into the CRM's
// row (and join tables) if the row is still at version prev, and returns
// the row's new version.
func (q *Queries) updateAdopted(ctx context.Context, t *adopt.Type, r crm.Record, prev int64) (int64, error) {
	cur, err := q.adoptedRecord(ctx, r.InstallID, t, r.ID, true)
	if err != nil {
		return 0, err
	}
	if cur.Version != prev {
		return 0, fmt.Errorf("store: update record %s: %w", r.ID, ErrStaleVersion)
	}
	m := q.adoption.m
	var sets []string
	var args []any
	set := func(c adopt.Column, v any) {
		sets = append(sets, adopt.Quote(c.Name)+" = ?")
		args = append(args, v)
	}
	for _, f := range t.Fields {
		// A field left out of the data was removed: its column is cleared.
		v := r.Data[f.Name]
		if sameValue(v, cur.Data[f.Name]) {
			continue
		}
		val, err := adopt.ToColumn(f.Column, v)
		if err != nil {
			return 0, fmt.Errorf("store: data.%s: %v", f.Name, err)
		}
		set(f.Column, val)
	}
	type linkChange struct {
		l      adopt.Link
		values []string
	}
	var joined []linkChange
	change := func(l adopt.Link, from, to string, wasOthers, others []string) {
		if from == to && slices.Equal(wasOthers, others) {
			return
		}
		if l.Joined() {
			values := others
			if to != "" {
				values = append([]string{to}, others...)
			}
			joined = append(joined, linkChange{l, values})
			return
		}
		if to == "" {
			set(l.Column, l.UnassignedValue())
		} else {
			set(l.Column, adopt.IDArg(l.Column, to))
		}
	}
	change(t.Owner, cur.OwnerID, r.OwnerID, cur.OtherOwners, r.OtherOwners)
	if t.Team != nil {
		change(*t.Team, cur.TeamID, r.TeamID, cur.OtherTeams, r.OtherTeams)
	}
	if t.Parent != nil {
		from, to := "", ""
		if cur.Parent != nil {
			from = cur.Parent.ID
		}
		if r.Parent != nil {
			to = r.Parent.ID
		}
		change(t.Parent.Link, from, to, nil, nil)
	}
	if len(sets) == 0 && len(joined) == 0 {
		return cur.Version, nil
	}
	if t.UpdatedAt != nil {
		set(*t.UpdatedAt, adopt.TimeArg(*t.UpdatedAt, r.UpdatedAt))
	}
	if len(sets) > 0 {
		_, err := q.q.ExecContext(ctx, "UPDATE "+m.Table(t.Table)+" SET "+strings.Join(sets, ", ")+" WHERE "+adopt.Quote(t.ID.Name)+" = ?",
			append(args, adopt.IDArg(t.ID, r.ID))...)
		if err != nil {
			return 0, fmt.Errorf("store: update %s row %s: %w", t.Table, r.ID, translate(err))
		}
	}
	for _, jc := range joined {
		if err := q.replaceLinks(ctx, t, jc.l, r.ID, jc.values); err != nil {
			return 0, err
		}
	}
	after, err := q.adoptedRecord(ctx, r.InstallID, t, r.ID, false)
	if err != nil {
		return 0, err
	}
	return after.Version, nil
}

// replaceLinks makes values the record's rows of a join table: its rows
// are deleted and written again, each with the type columns' first value,
// so that the CRM reads them as its own.
func (q *Queries) replaceLinks(ctx context.Context, t *adopt.Type, l adopt.Link, id string, values []string) error {
	m := q.adoption.m
	// Soft-deleted rows go too: a CRM's unique key over the link would
	// refuse writing one of them again.
	c := l.RowsOf("j", adopt.IDArg(t.ID, id))
	if _, err := q.q.ExecContext(ctx, "DELETE j FROM "+m.Table(l.Table)+" j WHERE "+c.SQL, c.Args...); err != nil {
		return fmt.Errorf("store: clear %s of %s: %w", l.Table, id, translate(err))
	}
	cols := []string{adopt.Quote(l.Record.Name), adopt.Quote(l.Column.Name)}
	for _, ty := range l.Type {
		cols = append(cols, adopt.Quote(ty.Column.Name))
	}
	for _, v := range slices.Compact(values) {
		args := []any{adopt.IDArg(t.ID, id), adopt.IDArg(l.Column, v)}
		for _, ty := range l.Type {
			args = append(args, ty.Values[0])
		}
		if _, err := q.q.ExecContext(ctx, "INSERT INTO "+m.Table(l.Table)+" ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(args))+")", args...); err != nil {
			return fmt.Errorf("store: write %s of %s: %w", l.Table, id, translate(err))
		}
	}
	return nil
}

// sameValue compares a data value with the one read from the row.
func sameValue(a, b any) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// reassignAdopted hands a type's records from one owner to another.
func (q *Queries) reassignAdopted(ctx context.Context, t *adopt.Type, installID, from, to string, at time.Time) ([]string, error) {
	if t == nil {
		return nil, nil
	}
	m := q.adoption.m
	owned := adopt.And(t.Live("r"), m.LinkIn(t, t.Owner, "r", []string{from}))
	ids, err := q.adoptedIDs(ctx, "SELECT "+adopt.Col("r", t.ID)+" FROM "+m.Table(t.Table)+" r WHERE "+owned.SQL+" ORDER BY "+adopt.Col("r", t.ID)+q.dialect.forUpdate(), owned.Args)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	for _, id := range ids {
		r, err := q.adoptedRecord(ctx, installID, t, id, true)
		if err != nil {
			return nil, err
		}
		prev := r.Version
		r.OwnerID = to
		if r.OwnerID == "" && len(r.OtherOwners) > 0 {
			r.OwnerID, r.OtherOwners = r.OtherOwners[0], r.OtherOwners[1:]
		}
		r.UpdatedAt = at
		if _, err := q.updateAdopted(ctx, t, r, prev); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (q *Queries) adoptedByID(ctx context.Context, installID string, t *adopt.Type, ids []string, ar func(typeRows) adoptedRow) (map[string]crm.Record, error) {
	out := make(map[string]crm.Record, len(ids))
	if t == nil || len(ids) == 0 {
		return out, nil
	}
	recs, err := q.adoptedRows(ctx, installID, ar(q.adoption.rows[t.RecordType]), adopt.Cond{SQL: q.adoption.m.Table(t.Table) + " r"}, idIn(t, "r", ids), "")
	for _, r := range recs {
		out[r.ID] = r
	}
	return out, err
}

// lockAdoptedTeams locks records of an adopted type and returns each one's
// team by id: those ids names, or with none those of team from ("" for
// the records without a team).
func (q *Queries) lockAdoptedTeams(ctx context.Context, installID string, t *adopt.Type, ids []string, from string) (map[string]string, error) {
	out := map[string]string{}
	if t == nil {
		return out, nil
	}
	var where adopt.Cond
	switch {
	case len(ids) > 0:
		where = idIn(t, "r", ids)
	case t.Team == nil && from != "":
		return out, nil
	case t.Team == nil:
		where = adopt.And()
	case from != "":
		where = q.adoption.m.LinkIn(t, *t.Team, "r", []string{from})
	default:
		where = q.adoption.m.LinkNone(t, *t.Team, "r")
	}
	recs, err := q.adoptedRecords(ctx, installID, t, where, " ORDER BY "+adopt.Col("r", t.ID)+q.dialect.forUpdate())
	for _, r := range recs {
		out[r.ID] = r.TeamID
	}
	return out, err
}

// setAdoptedTeams moves records of an adopted type to team to ("" for
// none).
func (q *Queries) setAdoptedTeams(ctx context.Context, installID string, t *adopt.Type, ids []string, to string, at time.Time) error {
	if t == nil || t.Team == nil {
		if to == "" || len(ids) == 0 {
			return nil
		}
		return fmt.Errorf("store: set teams: %s records have no team in the CRM's tables", t.RecordType)
	}
	for _, id := range ids {
		r, err := q.adoptedRecord(ctx, installID, t, id, true)
		if err != nil {
			return err
		}
		prev := r.Version
		r.TeamID, r.OtherTeams, r.UpdatedAt = to, nil, at
		if _, err := q.updateAdopted(ctx, t, r, prev); err != nil {
			return err
		}
	}
	return nil
}

// RecordFacts returns the records of one type among ids, by id, with what
// a decision asks of them (owners, creator, parent, and the teams when
// withTeams) and not their data: an adopted CRM's rows are read with those
// columns alone. crmguard's own records are read whole (and cached).
func (q *Queries) RecordFacts(ctx context.Context, installID string, t crm.RecordType, ids []string, withTeams bool) (map[string]crm.Record, error) {
	mt, adopted := q.mapped(installID, t)
	if !adopted {
		return q.RecordsByID(ctx, installID, t, ids)
	}
	return q.adoptedByID(ctx, installID, mt, ids, func(r typeRows) adoptedRow {
		if withTeams {
			return r.factsTeams
		}
		return r.facts
	})
}
