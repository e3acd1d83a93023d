package store

import (
	"context"
	"fmt"
	"time"
)

// The states of a notification.
const (
	NotificationOutbox = "outbox" // kept for the API: no mail server is configured
	NotificationSent   = "sent"   // handed to the mail server
	NotificationFailed = "failed" // the mail server refused it; Error says why
)

// Notification is a message to a user of an install, from a plugin.
type Notification struct {
	ID        string
	InstallID string
	UserID    string
	Source    string
	Subject   string
	Body      string
	State     string
	Error     string
	CreatedAt time.Time
}

// InsertNotification stores a notification.
func (q *Queries) InsertNotification(ctx context.Context, n Notification) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_notifications (id, install_id, user_id, source, subject, body, state, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		n.ID, n.InstallID, n.UserID, n.Source, n.Subject, n.Body, n.State, n.Error, millis(n.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert notification: %w", translate(err))
	}
	return nil
}

// SetNotificationState records what became of a notification.
func (q *Queries) SetNotificationState(ctx context.Context, installID, id, state, errText string) error {
	res, err := q.q.ExecContext(ctx, "UPDATE crmguard_notifications SET state = ?, error = ? WHERE install_id = ? AND id = ?",
		state, truncate(errText, 1000), installID, id)
	if err != nil {
		return fmt.Errorf("store: notification state: %w", err)
	}
	return expectOne(res, "notification state")
}

// Notifications returns up to limit notifications of an install, newest
// first, with ids before the given one ("": from the newest); of one user
// unless userID is empty.
func (q *Queries) Notifications(ctx context.Context, installID, userID, before string, limit int) ([]Notification, error) {
	where, args := "install_id = ?", []any{installID}
	if userID != "" {
		where, args = where+" AND user_id = ?", append(args, userID)
	}
	if before != "" {
		where, args = where+" AND id < ?", append(args, before)
	}
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, install_id, user_id, source, subject, body, state, error, created_at FROM crmguard_notifications WHERE "+where+" ORDER BY id DESC LIMIT ?",
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (Notification, error) {
		var n Notification
		var at int64
		err := scan(&n.ID, &n.InstallID, &n.UserID, &n.Source, &n.Subject, &n.Body, &n.State, &n.Error, &at)
		n.CreatedAt = fromMillis(at)
		return n, err
	})
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
