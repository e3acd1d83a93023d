package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/sdk"
)

// AdoptionReport is what a mapping finds in the CRM's tables.
type AdoptionReport struct {
	Users, ActiveUsers, Admins int64
	Teams, Memberships         int64
	Types                      []TypeReport
}

// TypeReport is what a record type's mapping finds.
type TypeReport struct {
	Type       sdk.RecordType
	Table      string
	Records    int64 // live rows of the type
	Assigned   int64
	Owners     int64 // distinct owners
	InATeam    int64 // -1: the type has no teams
	WithParent int64 // -1: the type has no parent
}

// AdoptionReport counts the users, teams and records the mapping finds.
func (db *DB) AdoptionReport(ctx context.Context, m *adopt.Mapping) (AdoptionReport, error) {
	var out AdoptionReport
	u := m.Users
	live := u.Live("u")
	admin := m.IsAdmin("u")
	err := db.q.QueryRowContext(ctx,
		"SELECT COUNT(*), COALESCE(SUM(CASE WHEN "+live.SQL+" THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN "+live.SQL+" AND "+admin.SQL+" THEN 1 ELSE 0 END), 0) FROM "+m.Table(u.Table)+" u",
		append(append(append([]any(nil), live.Args...), live.Args...), admin.Args...)...).Scan(&out.Users, &out.ActiveUsers, &out.Admins)
	if err != nil {
		return out, fmt.Errorf("store: count users of %s: %w", u.Table, err)
	}
	if t := m.Teams; t != nil {
		tl := t.Live("t")
		if err := db.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+m.Table(t.Table)+" t WHERE "+tl.SQL, tl.Args...).Scan(&out.Teams); err != nil {
			return out, fmt.Errorf("store: count teams of %s: %w", t.Table, err)
		}
		ml := t.LiveMember("tm")
		if err := db.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+m.Table(t.Members.Table)+" tm WHERE "+ml.SQL, ml.Args...).Scan(&out.Memberships); err != nil {
			return out, fmt.Errorf("store: count memberships of %s: %w", t.Members.Table, err)
		}
	}
	types := make([]sdk.RecordType, 0, len(m.Types))
	for rt := range m.Types {
		types = append(types, rt)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	for _, rt := range types {
		tr, err := db.typeReport(ctx, m, m.Types[rt])
		if err != nil {
			return out, err
		}
		out.Types = append(out.Types, tr)
	}
	return out, nil
}

func (db *DB) typeReport(ctx context.Context, m *adopt.Mapping, t *adopt.Type) (TypeReport, error) {
	tr := TypeReport{Type: t.RecordType, Table: t.Table, InATeam: -1, WithParent: -1}
	live := t.Live("r")
	from := " FROM " + m.Table(t.Table) + " r WHERE " + live.SQL
	count := func(cond adopt.Cond, into *int64) error {
		args := append(append([]any(nil), live.Args...), cond.Args...)
		return db.q.QueryRowContext(ctx, "SELECT COUNT(*)"+from+" AND NOT "+cond.SQL, args...).Scan(into)
	}
	if err := db.q.QueryRowContext(ctx, "SELECT COUNT(*)"+from, live.Args...).Scan(&tr.Records); err != nil {
		return tr, fmt.Errorf("store: count %s rows of %s: %w", t.RecordType, t.Table, err)
	}
	if err := count(m.LinkNone(t, t.Owner, "r"), &tr.Assigned); err != nil {
		return tr, fmt.Errorf("store: count assigned %s rows: %w", t.RecordType, err)
	}
	none := m.LinkNone(t, t.Owner, "r")
	owners, ownerArgs := "SELECT COUNT(DISTINCT "+adopt.Col("r", t.Owner.Column)+")"+from+" AND NOT "+none.SQL, append(append([]any(nil), live.Args...), none.Args...)
	if t.Owner.Joined() {
		j := m.Table(t.Owner.Table)
		ownerArgs = live.Args
		owners = "SELECT COUNT(DISTINCT o." + adopt.Quote(t.Owner.Column.Name) + ") FROM " + j + " o WHERE EXISTS (SELECT 1 FROM " + m.Table(t.Table) + " r WHERE " + live.SQL + " AND " + adopt.Col("r", t.ID) + " = o." + adopt.Quote(t.Owner.Record.Name) + ")"
	}
	if err := db.q.QueryRowContext(ctx, owners, ownerArgs...).Scan(&tr.Owners); err != nil {
		return tr, fmt.Errorf("store: count owners of %s: %w", t.RecordType, err)
	}
	if t.Team != nil {
		if err := count(m.LinkNone(t, *t.Team, "r"), &tr.InATeam); err != nil {
			return tr, fmt.Errorf("store: count teamed %s rows: %w", t.RecordType, err)
		}
	}
	if t.Parent != nil {
		if err := count(m.LinkNone(t, t.Parent.Link, "r"), &tr.WithParent); err != nil {
			return tr, fmt.Errorf("store: count %s rows with a parent: %w", t.RecordType, err)
		}
	}
	return tr, nil
}
