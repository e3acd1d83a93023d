package store

import (
	"context"
	"fmt"
	"time"
)

// OutboxEvent is an after-write event waiting for one plugin. Event is the
// event as JSON, for the service to read.
type OutboxEvent struct {
	ID        string
	InstallID string
	PluginID  string
	Event     []byte
	Attempts  int
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	// RetryFrom is when the event's retries started: when it was written,
	// or last replayed from the dead letters.
	RetryFrom time.Time
}

// EnqueueEvents adds events to the outbox; run it in the transaction of
// the write they tell of, so that an event exists exactly when its write
// does. Their retries run from their CreatedAt.
func (q *Queries) EnqueueEvents(ctx context.Context, events ...OutboxEvent) error {
	for _, e := range events {
		_, err := q.q.ExecContext(ctx,
			"INSERT INTO crmguard_outbox (id, install_id, plugin_id, event, attempts, next_at, last_error, created_at, retry_from) VALUES (?, ?, ?, ?, 0, ?, '', ?, ?)",
			e.ID, e.InstallID, e.PluginID, string(e.Event), millis(e.NextAt), millis(e.CreatedAt), millis(e.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: enqueue event: %w", translate(err))
		}
	}
	return nil
}

// DueEvents returns up to limit events whose time has come, oldest first.
func (q *Queries) DueEvents(ctx context.Context, now time.Time, limit int) ([]OutboxEvent, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, install_id, plugin_id, event, attempts, next_at, last_error, created_at, retry_from FROM crmguard_outbox WHERE next_at <= ? ORDER BY next_at, id LIMIT ?",
		millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due events: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (OutboxEvent, error) {
		var (
			e                    OutboxEvent
			event                string
			next, created, retry int64
		)
		err := scan(&e.ID, &e.InstallID, &e.PluginID, &event, &e.Attempts, &next, &e.LastError, &created, &retry)
		e.Event, e.NextAt, e.CreatedAt, e.RetryFrom = []byte(event), fromMillis(next), fromMillis(created), fromMillis(retry)
		return e, err
	})
}

// ClaimEvent takes a due event for one delivery attempt: it moves the
// event's time to until, so that no other replica delivers it meanwhile,
// and reports false when another replica claimed it first.
func (q *Queries) ClaimEvent(ctx context.Context, e OutboxEvent, until time.Time) (bool, error) {
	res, err := q.q.ExecContext(ctx,
		"UPDATE crmguard_outbox SET next_at = ?, attempts = attempts + 1 WHERE id = ? AND next_at = ?",
		millis(until), e.ID, millis(e.NextAt))
	if err != nil {
		return false, fmt.Errorf("store: claim event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim event: %w", err)
	}
	return n == 1, nil
}

// RetryEvent schedules another attempt of an event that failed.
func (q *Queries) RetryEvent(ctx context.Context, id string, at time.Time, cause string) error {
	_, err := q.q.ExecContext(ctx, "UPDATE crmguard_outbox SET next_at = ?, last_error = ? WHERE id = ?", millis(at), truncate(cause, 1000), id)
	if err != nil {
		return fmt.Errorf("store: retry event: %w", err)
	}
	return nil
}

// DeleteEvent removes a delivered event.
func (q *Queries) DeleteEvent(ctx context.Context, id string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM crmguard_outbox WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: delete event: %w", err)
	}
	return nil
}

// PendingEvents counts the events of the outbox.
func (q *Queries) PendingEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM crmguard_outbox").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: pending events: %w", err)
	}
	return n, nil
}
