package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
)

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
