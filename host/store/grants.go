package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/crm"
)

const grantColumns = "id, install_id, record_type, record_id, subject_type, subject_id, actions, source, expires_at, created_by, created_at"

// Grant returns one grant of an install.
func (q *Queries) Grant(ctx context.Context, installID, id string, forUpdate bool) (crm.Grant, error) {
	query := "SELECT " + grantColumns + " FROM crmguard_grants WHERE install_id = ? AND id = ?"
	if forUpdate {
		query += q.dialect.forUpdate()
	}
	g, err := scanGrant(q.q.QueryRowContext(ctx, query, installID, id).Scan)
	if err != nil {
		return crm.Grant{}, fmt.Errorf("store: grant: %w", translate(err))
	}
	return g, nil
}

// UpdateGrant replaces a grant's actions and expiry.
func (q *Queries) UpdateGrant(ctx context.Context, g crm.Grant) error {
	var expires sql.NullInt64
	if g.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: millis(*g.ExpiresAt), Valid: true}
	}
	res, err := q.q.ExecContext(ctx, "UPDATE crmguard_grants SET actions = ?, expires_at = ? WHERE install_id = ? AND id = ?",
		actionBits(g.Actions), expires, g.InstallID, g.ID)
	if err != nil {
		return fmt.Errorf("store: update grant: %w", translate(err))
	}
	return expectOne(res, "update grant")
}

// DeleteGrant removes a grant.
func (q *Queries) DeleteGrant(ctx context.Context, installID, id string) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM crmguard_grants WHERE install_id = ? AND id = ?", installID, id)
	if err != nil {
		return fmt.Errorf("store: delete grant: %w", translate(err))
	}
	return expectOne(res, "delete grant")
}

// The states a GrantQuery selects.
const (
	GrantsActive  = "active"
	GrantsExpired = "expired"
	GrantsAll     = "all"
)

// GrantQuery selects the grants of one source in an install; empty fields
// do not filter.
type GrantQuery struct {
	InstallID   string
	Source      string
	RecordType  crm.RecordType
	RecordID    string
	SubjectType string
	SubjectID   string
	State       string // GrantsActive, GrantsExpired or GrantsAll
	Now         time.Time
	After       string // grant id
	Limit       int
}

// ListGrants returns up to gq.Limit grants of gq, in id order.
func (q *Queries) ListGrants(ctx context.Context, gq GrantQuery) ([]crm.Grant, error) {
	where := []string{"install_id = ?", "source = ?", "id > ?"}
	args := []any{gq.InstallID, gq.Source, gq.After}
	for _, f := range [][2]string{{"record_type", string(gq.RecordType)}, {"record_id", gq.RecordID}, {"subject_type", gq.SubjectType}, {"subject_id", gq.SubjectID}} {
		if f[1] != "" {
			where = append(where, f[0]+" = ?")
			args = append(args, f[1])
		}
	}
	switch gq.State {
	case GrantsActive:
		where = append(where, "(expires_at IS NULL OR expires_at > ?)")
		args = append(args, millis(gq.Now))
	case GrantsExpired:
		where = append(where, "expires_at <= ?")
		args = append(args, millis(gq.Now))
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+grantColumns+" FROM crmguard_grants WHERE "+strings.Join(where, " AND ")+" ORDER BY id LIMIT ?",
		append(args, gq.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: list grants: %w", err)
	}
	return collect(rows, scanGrant)
}

func actionBits(actions []crm.Action) int {
	bits := 0
	for _, a := range actions {
		bits |= crm.ActionBit(a)
	}
	return bits
}
