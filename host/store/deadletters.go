package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// DeadLetter is an outbox event that was not delivered: no delivery took
// it within its retry window, or it could not be read at all. It waits
// for an operator to replay it.
type DeadLetter struct {
	ID          string // the event's, kept when it is replayed
	InstallID   string
	InstallSlug string
	PluginID    string
	// Event is the event as it was in the outbox; read by DeadLetter,
	// not by lists.
	Event []byte
	// What the event is about, as far as it could be read ("" where not).
	Operation  string
	RecordType string
	RecordID   string
	Attempts   int
	LastError  string
	CreatedAt  time.Time // when the event was written
	DiedAt     time.Time
}

// Burial is why and when an event goes to the dead letters, and what it
// is about as far as it could be read.
type Burial struct {
	Cause      string
	At         time.Time
	Operation  string
	RecordType string
	RecordID   string
}

// BuryEvent moves an event from the outbox to the dead letters, in one
// transaction, and reports false when the event is no longer in the
// outbox.
func (db *DB) BuryEvent(ctx context.Context, id string, b Burial) (bool, error) {
	moved := false
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx,
			"INSERT INTO crmguard_outbox_dead_letters (id, install_id, plugin_id, event, operation, record_type, record_id, attempts, last_error, created_at, died_at) "+
				"SELECT id, install_id, plugin_id, event, ?, ?, ?, attempts, ?, created_at, ? FROM crmguard_outbox WHERE id = ?",
			truncate(b.Operation, 16), truncate(b.RecordType, 16), truncate(b.RecordID, 26), truncate(b.Cause, 1000), millis(b.At), id)
		if err != nil {
			return fmt.Errorf("store: bury event: %w", translate(err))
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.q.ExecContext(ctx, "DELETE FROM crmguard_outbox WHERE id = ?", id); err != nil {
			return fmt.Errorf("store: bury event: %w", err)
		}
		moved = true
		return nil
	})
	return moved, err
}

// DeadLetterQuery selects dead letters, a page at a time, in the order
// their events were written.
type DeadLetterQuery struct {
	InstallID string // "": of every install
	PluginID  string // "": for every plugin
	After     string // the id the page continues after; "": from the first
	Limit     int
}

const deadLetterColumns = "d.id, d.install_id, i.slug, d.plugin_id, d.operation, d.record_type, d.record_id, d.attempts, d.last_error, d.created_at, d.died_at"

// DeadLetters returns a page of the dead letters q selects, without their
// events.
func (q *Queries) DeadLetters(ctx context.Context, dq DeadLetterQuery) ([]DeadLetter, error) {
	where, args := "1 = 1", []any{}
	if dq.InstallID != "" {
		where, args = where+" AND d.install_id = ?", append(args, dq.InstallID)
	}
	if dq.PluginID != "" {
		where, args = where+" AND d.plugin_id = ?", append(args, dq.PluginID)
	}
	if dq.After != "" {
		where, args = where+" AND d.id > ?", append(args, dq.After)
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+deadLetterColumns+" FROM crmguard_outbox_dead_letters d JOIN crmguard_installs i ON i.id = d.install_id WHERE "+where+" ORDER BY d.id LIMIT ?",
		append(args, dq.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (DeadLetter, error) {
		var d DeadLetter
		return d, scanDeadLetter(scan, &d)
	})
}

// DeadLetter returns one dead letter with its event, or ErrNotFound.
func (q *Queries) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	var (
		d     DeadLetter
		event string
	)
	err := scanDeadLetter(func(dest ...any) error {
		return q.q.QueryRowContext(ctx,
			"SELECT "+deadLetterColumns+", d.event FROM crmguard_outbox_dead_letters d JOIN crmguard_installs i ON i.id = d.install_id WHERE d.id = ?",
			id).Scan(dest...)
	}, &d, &event)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("store: dead letter: %w", translate(err))
	}
	d.Event = []byte(event)
	return d, nil
}

func scanDeadLetter(scan func(...any) error, d *DeadLetter, more ...any) error {
	var created, died int64
	err := scan(append([]any{&d.ID, &d.InstallID, &d.InstallSlug, &d.PluginID, &d.Operation, &d.RecordType, &d.RecordID,
		&d.Attempts, &d.LastError, &created, &died}, more...)...)
	d.CreatedAt, d.DiedAt = fromMillis(created), fromMillis(died)
	return err
}

// DeadLettersByPlugin counts the dead letters of each plugin.
func (q *Queries) DeadLettersByPlugin(ctx context.Context) (map[string]int64, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT plugin_id, COUNT(*) FROM crmguard_outbox_dead_letters GROUP BY plugin_id")
	if err != nil {
		return nil, fmt.Errorf("store: count dead letters: %w", err)
	}
	return collectMap[string, int64](rows)
}

// ReplayDeadLetters puts dead letters back in the outbox, due at at, with
// no attempts and their retries starting then, each in the transaction
// that removes it from the dead letters. Either all the ids are replayed,
// or, when some are not dead letters (never were, or were replayed
// meanwhile), none is, and those ids are returned.
func (db *DB) ReplayDeadLetters(ctx context.Context, ids []string, at time.Time) (missing []string, err error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return nil, nil
	}
	in, args := placeholders(len(ids)), make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		// Locked, so that of two operators replaying one letter at once,
		// one replays it and the other finds it gone.
		rows, err := tx.q.QueryContext(ctx, "SELECT id FROM crmguard_outbox_dead_letters WHERE id IN ("+in+")"+tx.dialect.forUpdate(), args...)
		if err != nil {
			return fmt.Errorf("store: replay dead letters: %w", err)
		}
		found, err := collect(rows, func(scan func(...any) error) (string, error) {
			var id string
			return id, scan(&id)
		})
		if err != nil {
			return err
		}
		there := map[string]bool{}
		for _, id := range found {
			there[id] = true
		}
		for _, id := range ids {
			if !there[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return nil // nothing written
		}
		_, err = tx.q.ExecContext(ctx,
			"INSERT INTO crmguard_outbox (id, install_id, plugin_id, event, attempts, next_at, last_error, created_at, retry_from) "+
				"SELECT id, install_id, plugin_id, event, 0, ?, '', created_at, ? FROM crmguard_outbox_dead_letters WHERE id IN ("+in+")",
			append([]any{millis(at), millis(at)}, args...)...)
		if err != nil {
			return fmt.Errorf("store: replay dead letters: %w", translate(err))
		}
		if _, err := tx.q.ExecContext(ctx, "DELETE FROM crmguard_outbox_dead_letters WHERE id IN ("+in+")", args...); err != nil {
			return fmt.Errorf("store: replay dead letters: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
}
