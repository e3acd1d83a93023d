package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
