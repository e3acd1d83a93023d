package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/crm"
)

// PluginActivations returns an install's plugin activations (active or
// not), by plugin id.
func (q *Queries) PluginActivations(ctx context.Context, installID string) ([]crm.PluginActivation, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT install_id, plugin_id, active, settings, updated_at FROM crmguard_plugin_activations WHERE install_id = ? ORDER BY plugin_id",
		installID)
	if err != nil {
		return nil, fmt.Errorf("store: plugin activations: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (crm.PluginActivation, error) {
		var (
			a         crm.PluginActivation
			settings  string
			updatedAt int64
		)
		if err := scan(&a.InstallID, &a.PluginID, &a.Active, &settings, &updatedAt); err != nil {
			return a, err
		}
		a.Settings, a.UpdatedAt = json.RawMessage(settings), fromMillis(updatedAt)
		return a, nil
	})
}

// PutPluginActivation stores an install's activation of a plugin, replacing
// the one before. Run it in a transaction.
func (q *Queries) PutPluginActivation(ctx context.Context, a crm.PluginActivation) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM crmguard_plugin_activations WHERE install_id = ? AND plugin_id = ?", a.InstallID, a.PluginID); err != nil {
		return fmt.Errorf("store: put plugin activation: %w", translate(err))
	}
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_plugin_activations (install_id, plugin_id, active, settings, updated_at) VALUES (?, ?, ?, ?, ?)",
		a.InstallID, a.PluginID, a.Active, string(a.Settings), millis(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: put plugin activation: %w", translate(err))
	}
	return nil
}

// KVEntry is a value of a plugin's key-value store.
type KVEntry struct {
	Value   []byte
	Version int64
}

// KVGet returns a plugin's value for an install; an expired value is not
// found.
func (q *Queries) KVGet(ctx context.Context, pluginID, installID, key string, now time.Time) (KVEntry, bool, error) {
	return q.kvGet(ctx, pluginID, installID, key, now, "")
}

func (q *Queries) kvGet(ctx context.Context, pluginID, installID, key string, now time.Time, lock string) (KVEntry, bool, error) {
	var e KVEntry
	err := q.q.QueryRowContext(ctx,
		"SELECT v, version FROM crmguard_plugin_kv WHERE plugin_id = ? AND install_id = ? AND k = ? AND (expires_at IS NULL OR expires_at > ?)"+lock,
		pluginID, installID, []byte(key), millis(now)).Scan(&e.Value, &e.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return KVEntry{}, false, nil
	}
	if err != nil {
		return KVEntry{}, false, fmt.Errorf("store: kv get: %w", err)
	}
	return e, true, nil
}

// KVSet writes a plugin's value for an install. With ifVersion set, it
// writes only if the current version (0: absent or expired) is
// *ifVersion, and reports false otherwise. Run it in a transaction.
func (q *Queries) KVSet(ctx context.Context, pluginID, installID, key string, value []byte, ifVersion *int64, expiresAt *time.Time, now time.Time) (int64, bool, error) {
	cur, found, err := q.kvGet(ctx, pluginID, installID, key, now, q.dialect.forUpdate())
	if err != nil {
		return 0, false, err
	}
	if ifVersion != nil && *ifVersion != cur.Version {
		return cur.Version, false, nil
	}
	var expires sql.NullInt64
	if expiresAt != nil {
		expires = sql.NullInt64{Int64: millis(*expiresAt), Valid: true}
	}
	if found {
		_, err = q.q.ExecContext(ctx, "UPDATE crmguard_plugin_kv SET v = ?, version = ?, expires_at = ? WHERE plugin_id = ? AND install_id = ? AND k = ?",
			value, cur.Version+1, expires, pluginID, installID, []byte(key))
		if err != nil {
			return 0, false, fmt.Errorf("store: kv set: %w", translate(err))
		}
		return cur.Version + 1, true, nil
	}
	// An expired row may still be there: it is replaced, and its versions
	// start from a number no reader of the old one holds.
	if _, err := q.q.ExecContext(ctx, "DELETE FROM crmguard_plugin_kv WHERE plugin_id = ? AND install_id = ? AND k = ?", pluginID, installID, []byte(key)); err != nil {
		return 0, false, fmt.Errorf("store: kv set: %w", translate(err))
	}
	next := now.UnixNano()
	_, err = q.q.ExecContext(ctx, "INSERT INTO crmguard_plugin_kv (plugin_id, install_id, k, v, version, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		pluginID, installID, []byte(key), value, next, expires)
	if err != nil {
		return 0, false, fmt.Errorf("store: kv set: %w", translate(err))
	}
	return next, true, nil
}

// KVDelete removes a plugin's value for an install.
func (q *Queries) KVDelete(ctx context.Context, pluginID, installID, key string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM crmguard_plugin_kv WHERE plugin_id = ? AND install_id = ? AND k = ?", pluginID, installID, []byte(key)); err != nil {
		return fmt.Errorf("store: kv delete: %w", translate(err))
	}
	return nil
}
