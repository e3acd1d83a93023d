package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/crm"
)

// AppendAudit adds events to the audit log. The log is append-only: the
// store has no statement that changes or removes an event.
func (q *Queries) AppendAudit(ctx context.Context, events ...crm.AuditEvent) error {
	for _, e := range events {
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("store: encode audit detail: %w", err)
		}
		_, err = q.q.ExecContext(ctx,
			"INSERT INTO crmguard_audit (id, install_id, at, actor_id, action, record_type, record_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			e.ID, e.InstallID, millis(e.At), nullString(e.ActorID), e.Action, nullString(string(e.RecordType)), nullString(e.RecordID), string(detail))
		if err != nil {
			return fmt.Errorf("store: append audit %s: %w", e.Action, translate(err))
		}
	}
	return nil
}

// RecordAudit returns up to limit events about one record with ids after
// the given one, oldest first.
func (q *Queries) RecordAudit(ctx context.Context, installID string, t crm.RecordType, id, after string, limit int) ([]crm.AuditEvent, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, install_id, at, actor_id, action, record_type, record_id, detail FROM crmguard_audit"+
			" WHERE install_id = ? AND record_type = ? AND record_id = ? AND id > ? ORDER BY id LIMIT ?",
		installID, t, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: record audit: %w", err)
	}
	return collect(rows, scanAudit)
}

// AuditByAction returns up to limit events of an install with the given
// action and ids after the given one, oldest first: the history of what is
// not a record, as users and plugin activations.
func (q *Queries) AuditByAction(ctx context.Context, installID, action, after string, limit int) ([]crm.AuditEvent, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, install_id, at, actor_id, action, record_type, record_id, detail FROM crmguard_audit"+
			" WHERE install_id = ? AND action = ? AND id > ? ORDER BY id LIMIT ?",
		installID, action, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit of %s: %w", action, err)
	}
	return collect(rows, scanAudit)
}

func scanAudit(scan func(...any) error) (crm.AuditEvent, error) {
	var (
		e                 crm.AuditEvent
		at                int64
		actor, rtype, rid sql.NullString
		detail            []byte
	)
	if err := scan(&e.ID, &e.InstallID, &at, &actor, &e.Action, &rtype, &rid, &detail); err != nil {
		return crm.AuditEvent{}, err
	}
	e.At = fromMillis(at)
	e.ActorID, e.RecordType, e.RecordID = actor.String, crm.RecordType(rtype.String), rid.String
	dec := json.NewDecoder(bytes.NewReader(detail))
	dec.UseNumber()
	if err := dec.Decode(&e.Detail); err != nil {
		return crm.AuditEvent{}, fmt.Errorf("decode audit detail %s: %w", e.ID, err)
	}
	return e, nil
}

// InsertGrant stores a grant.
func (q *Queries) InsertGrant(ctx context.Context, g crm.Grant) error {
	bits := actionBits(g.Actions)
	var expires sql.NullInt64
	if g.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: millis(*g.ExpiresAt), Valid: true}
	}
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_grants (id, install_id, record_type, record_id, subject_type, subject_id, actions, source, expires_at, created_by, created_at)"+
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		g.ID, g.InstallID, g.RecordType, g.RecordID, g.SubjectType, g.SubjectID, bits, g.Source, expires, nullString(g.CreatedBy), millis(g.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert grant: %w", translate(err))
	}
	return nil
}

// RecordGrants returns the grants on a record that have not expired at now.
func (q *Queries) RecordGrants(ctx context.Context, installID string, t crm.RecordType, id string, now time.Time) ([]crm.Grant, error) {
	return q.recordGrants(ctx, "(expires_at IS NULL OR expires_at > ?)", installID, t, id, now)
}

// RecordExpiredGrants returns the grants of a record whose expiry has
// passed at now, kept for its access history.
func (q *Queries) RecordExpiredGrants(ctx context.Context, installID string, t crm.RecordType, id string, now time.Time) ([]crm.Grant, error) {
	return q.recordGrants(ctx, "expires_at <= ?", installID, t, id, now)
}

func (q *Queries) recordGrants(ctx context.Context, expiry, installID string, t crm.RecordType, id string, now time.Time) ([]crm.Grant, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, install_id, record_type, record_id, subject_type, subject_id, actions, source, expires_at, created_by, created_at"+
			" FROM crmguard_grants WHERE install_id = ? AND record_type = ? AND record_id = ? AND "+expiry+" ORDER BY id",
		installID, t, id, millis(now))
	if err != nil {
		return nil, fmt.Errorf("store: record grants: %w", err)
	}
	return collect(rows, scanGrant)
}

func scanGrant(scan func(...any) error) (crm.Grant, error) {
	var (
		g         crm.Grant
		bits      int
		expires   sql.NullInt64
		createdBy sql.NullString
		createdAt int64
	)
	err := scan(&g.ID, &g.InstallID, &g.RecordType, &g.RecordID, &g.SubjectType, &g.SubjectID, &bits, &g.Source, &expires, &createdBy, &createdAt)
	if err != nil {
		return crm.Grant{}, err
	}
	for _, a := range crm.Actions {
		if bits&crm.ActionBit(a) != 0 {
			g.Actions = append(g.Actions, a)
		}
	}
	if expires.Valid {
		t := fromMillis(expires.Int64)
		g.ExpiresAt = &t
	}
	g.CreatedBy, g.CreatedAt = createdBy.String, fromMillis(createdAt)
	return g, nil
}
