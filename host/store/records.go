package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/crm"
)

const recordColumns = "r.install_id, r.type, r.id, r.owner_id, r.created_by, r.team_id, r.parent_type, r.parent_id, r.data, r.version, r.created_at, r.updated_at"

// Predicate is a condition on the records table (aliased r) with its
// arguments. Access rules arrive here as predicates so that lists are
// filtered in SQL, never after fetching.
type Predicate struct {
	SQL  string
	Args []any
	// Index names the column (owner_id, team_id or created_by) whose index
	// should drive a branch of AnyOf that has this predicate; "" for none.
	Index string
}

// branchIndexes are the indexes of the columns that drive branches.
var branchIndexes = map[string]string{
	"owner_id":   "crmguard_records_owner",
	"team_id":    "crmguard_records_team",
	"created_by": "crmguard_records_creator",
}

// RecordQuery selects records of one install, newest first.
type RecordQuery struct {
	InstallID string
	Type      crm.RecordType // empty: every type (only with ParentID)
	OwnerID   string         // only records assigned to this user
	Unowned   bool           // only unassigned records
	TeamID    string         // only records of this team
	NoTeam    bool           // only records without a team
	ParentID  string         // only children of this record
	Search    string         // substring of name or e-mail, case-insensitive
	Where     []Predicate    // further conditions, all of which must hold
	// AnyOf, when it has two or more branches, is a further condition that
	// holds when all the predicates of one branch hold. Where the database
	// plans an OR badly (MySQL), each branch is listed on its own index and
	// the pages are merged.
	AnyOf  [][]Predicate
	Before string // keyset cursor: only ids before this one
	Limit  int
}

// InsertRecord stores a new record.
func (q *Queries) InsertRecord(ctx context.Context, r crm.Record) error {
	if _, adopted := q.mapped(r.InstallID, r.Type); adopted {
		return ErrAdopted
	}
	data, err := encodeData(r.Data)
	if err != nil {
		return err
	}
	ptype, pid := parentColumns(r.Parent)
	_, err = q.q.ExecContext(ctx,
		"INSERT INTO crmguard_records (install_id, type, id, owner_id, created_by, team_id, parent_type, parent_id, name, email, data, version, created_at, updated_at)"+
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.InstallID, r.Type, r.ID, nullString(r.OwnerID), r.CreatedBy, nullString(r.TeamID), ptype, pid,
		r.Name(), r.Email(), data, r.Version, millis(r.CreatedAt), millis(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: insert record: %w", translate(err))
	}
	return nil
}

// Record returns one record. With forUpdate, inside a transaction, the row
// stays locked until the transaction ends.
func (q *Queries) Record(ctx context.Context, installID string, t crm.RecordType, id string, forUpdate bool) (crm.Record, error) {
	if mt, adopted := q.mapped(installID, t); adopted {
		return q.adoptedRecord(ctx, installID, mt, id, forUpdate)
	}
	query := "SELECT " + recordColumns + " FROM crmguard_records r WHERE r.install_id = ? AND r.type = ? AND r.id = ?"
	if forUpdate {
		query += q.dialect.forUpdate()
	}
	r, err := scanRecord(q.q.QueryRowContext(ctx, query, installID, t, id).Scan)
	if err != nil {
		return crm.Record{}, fmt.Errorf("store: record: %w", translate(err))
	}
	return r, nil
}

// UpdateRecord writes r over the stored record if the stored one is still
// at version prev, and returns the version stored; otherwise
// ErrStaleVersion, and nothing is written.
func (q *Queries) UpdateRecord(ctx context.Context, r crm.Record, prev int64) (int64, error) {
	if mt, adopted := q.mapped(r.InstallID, r.Type); adopted {
		return q.updateAdopted(ctx, mt, r, prev)
	}
	data, err := encodeData(r.Data)
	if err != nil {
		return 0, err
	}
	ptype, pid := parentColumns(r.Parent)
	res, err := q.q.ExecContext(ctx,
		"UPDATE crmguard_records SET owner_id = ?, team_id = ?, parent_type = ?, parent_id = ?, name = ?, email = ?, data = ?, version = ?, updated_at = ?"+
			" WHERE install_id = ? AND type = ? AND id = ? AND version = ?",
		nullString(r.OwnerID), nullString(r.TeamID), ptype, pid, r.Name(), r.Email(), data, r.Version, millis(r.UpdatedAt),
		r.InstallID, r.Type, r.ID, prev)
	if err != nil {
		return 0, fmt.Errorf("store: update record: %w", translate(err))
	}
	if err := expectOne(res, "update record"); err != nil {
		return 0, fmt.Errorf("store: update record %s: %w", r.ID, ErrStaleVersion)
	}
	return r.Version, nil
}

// DeleteRecord removes a record and its grants.
func (q *Queries) DeleteRecord(ctx context.Context, installID string, t crm.RecordType, id string) error {
	if _, adopted := q.mapped(installID, t); adopted {
		return ErrAdopted
	}
	if _, err := q.q.ExecContext(ctx,
		"DELETE FROM crmguard_grants WHERE install_id = ? AND record_type = ? AND record_id = ?", installID, t, id); err != nil {
		return fmt.Errorf("store: delete grants of record: %w", translate(err))
	}
	res, err := q.q.ExecContext(ctx,
		"DELETE FROM crmguard_records WHERE install_id = ? AND type = ? AND id = ?", installID, t, id)
	if err != nil {
		return fmt.Errorf("store: delete record: %w", translate(err))
	}
	return expectOne(res, "delete record")
}

// DetachChildren clears the parent of every child of a record and returns
// the children it changed. Run it in a transaction.
func (q *Queries) DetachChildren(ctx context.Context, installID, parentID string, at time.Time) ([]crm.Ref, error) {
	if q.Adoption(installID) != nil {
		return nil, ErrAdopted
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT type, id FROM crmguard_records WHERE install_id = ? AND parent_id = ? ORDER BY id"+q.dialect.forUpdate(),
		installID, parentID)
	if err != nil {
		return nil, fmt.Errorf("store: children: %w", err)
	}
	children, err := collect(rows, func(scan func(...any) error) (crm.Ref, error) {
		var ref crm.Ref
		err := scan(&ref.Type, &ref.ID)
		return ref, err
	})
	if err != nil || len(children) == 0 {
		return nil, err
	}
	_, err = q.q.ExecContext(ctx,
		"UPDATE crmguard_records SET parent_type = NULL, parent_id = NULL, version = version + 1, updated_at = ?"+
			" WHERE install_id = ? AND parent_id = ?", millis(at), installID, parentID)
	if err != nil {
		return nil, fmt.Errorf("store: detach children: %w", err)
	}
	return children, nil
}

// ListRecords returns the records that match q, newest first.
func (q *Queries) ListRecords(ctx context.Context, rq RecordQuery) ([]crm.Record, error) {
	if mt, adopted := q.mapped(rq.InstallID, rq.Type); adopted {
		return q.listAdopted(ctx, mt, rq)
	}
	if len(rq.AnyOf) > 1 && q.dialect.unionBranches() {
		return q.listBranches(ctx, rq)
	}
	where, args := rq.pageFilters()
	if len(rq.AnyOf) > 0 {
		cond, condArgs := rq.anyOf()
		where = append(where, cond)
		args = append(args, condArgs...)
	}
	rows, err := q.q.QueryContext(ctx, "SELECT "+recordColumns+" FROM crmguard_records r WHERE "+strings.Join(where, " AND ")+
		" ORDER BY r.id DESC LIMIT ?", append(args, rq.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: list records: %w", err)
	}
	return collect(rows, scanRecord)
}

// branchIndex is the index hint of a branch: the index of the column that
// drives it, unless the query selects one parent's children (whose index
// is narrower still).
func (rq RecordQuery) branchIndex(branch []Predicate) string {
	if rq.ParentID != "" {
		return ""
	}
	for _, p := range branch {
		if name, ok := branchIndexes[p.Index]; ok {
			return " FORCE INDEX (" + name + ")"
		}
	}
	return ""
}

// pageFilters are the conditions of rq and its page, but for its
// branches.
func (rq RecordQuery) pageFilters() (where []string, args []any) {
	where, args = rq.filters()
	if rq.Before != "" {
		where = append(where, "r.id < ?")
		args = append(args, rq.Before)
	}
	return where, args
}

// filters are the conditions of rq, but for its page and branches.
func (rq RecordQuery) filters() (where []string, args []any) {
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	add("r.install_id = ?", rq.InstallID)
	if rq.Type != "" {
		add("r.type = ?", rq.Type)
	}
	switch {
	case rq.OwnerID != "":
		add("r.owner_id = ?", rq.OwnerID)
	case rq.Unowned:
		add("r.owner_id IS NULL")
	}
	switch {
	case rq.TeamID != "":
		add("r.team_id = ?", rq.TeamID)
	case rq.NoTeam:
		add("r.team_id IS NULL")
	}
	if rq.ParentID != "" {
		add("r.parent_id = ?", rq.ParentID)
	}
	if rq.Search != "" {
		pattern := "%" + escapeLike(rq.Search) + "%"
		add("(r.name LIKE ? ESCAPE '!' OR r.email LIKE ? ESCAPE '!')", pattern, pattern)
	}
	for _, p := range rq.Where {
		add("("+p.SQL+")", p.Args...)
	}
	return where, args
}

// anyOf is rq's branches as one condition.
func (rq RecordQuery) anyOf() (string, []any) {
	var ors []string
	var args []any
	for _, branch := range rq.AnyOf {
		cond, condArgs := joinPredicates(branch)
		ors = append(ors, cond)
		args = append(args, condArgs...)
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// CountRecords counts the records rq selects, all pages together (Before
// and Limit do not apply): one index scan, however many branches.
func (q *Queries) CountRecords(ctx context.Context, rq RecordQuery) (int64, error) {
	if mt, adopted := q.mapped(rq.InstallID, rq.Type); adopted {
		return q.countAdopted(ctx, mt, rq)
	}
	where, args := rq.filters()
	if len(rq.AnyOf) > 0 {
		cond, condArgs := rq.anyOf()
		where = append(where, cond)
		args = append(args, condArgs...)
	}
	var n int64
	err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM crmguard_records r WHERE "+strings.Join(where, " AND "), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count records: %w", err)
	}
	return n, nil
}

// CountRecordsByTeam counts the records rq selects, as CountRecords does,
// per team ("" for those without one).
func (q *Queries) CountRecordsByTeam(ctx context.Context, rq RecordQuery) (map[string]int64, error) {
	if mt, adopted := q.mapped(rq.InstallID, rq.Type); adopted {
		return q.countAdoptedByTeam(ctx, mt, rq)
	}
	where, args := rq.filters()
	if len(rq.AnyOf) > 0 {
		cond, condArgs := rq.anyOf()
		where = append(where, cond)
		args = append(args, condArgs...)
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT COALESCE(r.team_id, ''), COUNT(*) FROM crmguard_records r WHERE "+strings.Join(where, " AND ")+" GROUP BY r.team_id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: count records by team: %w", err)
	}
	return collectMap[string, int64](rows)
}

// joinPredicates ANDs predicates into one condition.
func joinPredicates(preds []Predicate) (string, []any) {
	if len(preds) == 0 {
		return "1 = 1", nil
	}
	parts := make([]string, len(preds))
	var args []any
	for i, p := range preds {
		parts[i] = "(" + p.SQL + ")"
		args = append(args, p.Args...)
	}
	return "(" + strings.Join(parts, " AND ") + ")", args
}

// escapeLike makes s match literally inside a LIKE pattern escaped by '!'.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

func scanRecord(scan func(...any) error) (crm.Record, error) {
	var (
		r                       crm.Record
		owner, team, ptype, pid sql.NullString
		data                    []byte
		createdAt, updatedAt    int64
	)
	err := scan(&r.InstallID, &r.Type, &r.ID, &owner, &r.CreatedBy, &team, &ptype, &pid, &data, &r.Version, &createdAt, &updatedAt)
	if err != nil {
		return crm.Record{}, err
	}
	r.OwnerID, r.TeamID = owner.String, team.String
	if pid.Valid {
		r.Parent = &crm.Ref{Type: crm.RecordType(ptype.String), ID: pid.String}
	}
	r.CreatedAt, r.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers exactly as they were written
	if err := dec.Decode(&r.Data); err != nil {
		return crm.Record{}, fmt.Errorf("decode data of record %s: %w", r.ID, err)
	}
	return r, nil
}

func encodeData(data map[string]any) (string, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("store: encode record data: %w", err)
	}
	return string(b), nil
}

func parentColumns(p *crm.Ref) (sql.NullString, sql.NullString) {
	if p == nil {
		return sql.NullString{}, sql.NullString{}
	}
	return nullString(string(p.Type)), nullString(p.ID)
}

// InsertRecords stores many new records with multi-row statements, for
// imports and seeding; run it in a transaction to make the batch whole.
func (q *Queries) InsertRecords(ctx context.Context, recs []crm.Record) error {
	for _, r := range recs {
		if _, adopted := q.mapped(r.InstallID, r.Type); adopted {
			return ErrAdopted
		}
	}
	const perStatement = 500
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for len(recs) > 0 {
		n := min(len(recs), perStatement)
		args := make([]any, 0, n*14)
		for _, r := range recs[:n] {
			data, err := encodeData(r.Data)
			if err != nil {
				return err
			}
			ptype, pid := parentColumns(r.Parent)
			args = append(args, r.InstallID, r.Type, r.ID, nullString(r.OwnerID), r.CreatedBy, nullString(r.TeamID), ptype, pid,
				r.Name(), r.Email(), data, r.Version, millis(r.CreatedAt), millis(r.UpdatedAt))
		}
		_, err := q.q.ExecContext(ctx,
			"INSERT INTO crmguard_records (install_id, type, id, owner_id, created_by, team_id, parent_type, parent_id, name, email, data, version, created_at, updated_at) VALUES "+
				strings.TrimSuffix(strings.Repeat(row+", ", n), ", "), args...)
		if err != nil {
			return fmt.Errorf("store: insert records: %w", translate(err))
		}
		recs = recs[n:]
	}
	return nil
}

// RecordsByID returns the records of one type among ids, by id; missing ids
// are absent from the map.
func (q *Queries) RecordsByID(ctx context.Context, installID string, t crm.RecordType, ids []string) (map[string]crm.Record, error) {
	if mt, adopted := q.mapped(installID, t); adopted {
		return q.adoptedByID(ctx, installID, mt, ids, func(r typeRows) adoptedRow { return r.whole })
	}
	out := make(map[string]crm.Record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{installID, t}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+recordColumns+" FROM crmguard_records r WHERE r.install_id = ? AND r.type = ? AND r.id IN ("+
			strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("store: records by id: %w", err)
	}
	recs, err := collect(rows, scanRecord)
	for _, r := range recs {
		out[r.ID] = r
	}
	return out, err
}

// LockTeams locks records of type t and returns the team of each by id
// ("" for none): the records ids names, or with no ids every record of
// team from ("" for the records without a team).
func (q *Queries) LockTeams(ctx context.Context, installID string, t crm.RecordType, ids []string, from string) (map[string]string, error) {
	if mt, adopted := q.mapped(installID, t); adopted {
		return q.lockAdoptedTeams(ctx, installID, mt, ids, from)
	}
	where, args := "team_id IS NULL", []any{installID, t}
	switch {
	case len(ids) > 0:
		where = "id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	case from != "":
		where = "team_id = ?"
		args = append(args, from)
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, COALESCE(team_id, '') FROM crmguard_records WHERE install_id = ? AND type = ? AND "+where+" ORDER BY id"+q.dialect.forUpdate(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: lock teams: %w", err)
	}
	return collectMap[string, string](rows)
}

// SetTeams moves the records of type t that ids names to team to ("" for
// none), a new version each.
func (q *Queries) SetTeams(ctx context.Context, installID string, t crm.RecordType, ids []string, to string, at time.Time) error {
	if mt, adopted := q.mapped(installID, t); adopted {
		return q.setAdoptedTeams(ctx, installID, mt, ids, to, at)
	}
	if len(ids) == 0 {
		return nil
	}
	args := []any{nullString(to), millis(at), installID, t}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := q.q.ExecContext(ctx,
		"UPDATE crmguard_records SET team_id = ?, version = version + 1, updated_at = ? WHERE install_id = ? AND type = ? AND id IN ("+
			strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+")", args...)
	if err != nil {
		return fmt.Errorf("store: set teams: %w", translate(err))
	}
	return nil
}
