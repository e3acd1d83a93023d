package store

import (
	"context"
	"encoding/json"
	"fmt"

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
