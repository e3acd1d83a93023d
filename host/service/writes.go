package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// The write path (DESIGN §7): check, then the before-write hooks of the
// install's active plugins, then one transaction with the record, its audit
// and its outbox events, then invalidation; the after-write hooks are fed
// from the outbox.

// writePlugin is an active plugin of an install with its settings.
type writePlugin struct {
	plugin   *plugins.Plugin // nil: active, but the host does not run it
	id       string
	settings json.RawMessage
}

// writePlugins returns the install's active plugins that implement hook,
// in policy order, and those active that the host does not run (which
// might).
func (s *Service) writePlugins(acts []crm.PluginActivation, hook string) []writePlugin {
	settings := map[string]json.RawMessage{}
	for _, a := range acts {
		if a.Active {
			settings[a.PluginID] = a.Settings
		}
	}
	if len(settings) == 0 {
		return nil
	}
	var out []writePlugin
	for _, pl := range s.inOrder() {
		raw, active := settings[pl.Manifest.ID]
		delete(settings, pl.Manifest.ID)
		if active && pl.Has(hook) {
			out = append(out, writePlugin{plugin: pl, id: pl.Manifest.ID, settings: raw})
		}
	}
	for id, raw := range settings {
		out = append(out, writePlugin{id: id, settings: raw})
	}
	return out
}

// writer is who writes, as the hooks see them.
func writer(se session, v viewer) sdk.User {
	p := se.p
	return sdk.User{ID: p.User.ID, Email: p.User.Email, Name: p.User.Name, Role: p.Role.Name, Teams: v.subject.Teams}
}

var denialCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// beforeWrite runs the before-write hooks on a write: a hook may refuse it
// (403 with the plugin's code) or change the owner or team of after. An
// active plugin that cannot answer (503), or fails on the call (500),
// refuses the write: nothing is written that it might have stopped.
func (s *Service) beforeWrite(ctx context.Context, se session, v viewer, acts []crm.PluginActivation, op string, before, after *crm.Record) error {
	in := pluginInstall(se.p.Install)
	u := writer(se, v)
	for _, wp := range s.writePlugins(acts, sdk.HookBefore) {
		if wp.plugin == nil {
			s.log.Warn("an active plugin is not running; refusing the write", "plugin", wp.id, "install", in.Slug)
			return errPluginUnavailable
		}
		w := sdk.Write{Install: in, User: u, Settings: wp.settings, Operation: op}
		if before != nil {
			w.Before = sdkRecord(*before)
		}
		if after != nil {
			w.After = sdkRecord(*after)
		}
		change, err := wp.plugin.BeforeWrite(ctx, w)
		var d *sdk.Denial
		if errors.As(err, &d) {
			code := d.Code
			if !denialCode.MatchString(code) {
				code = "refused_by_plugin"
			}
			return crm.Errorf(crm.KindForbidden, code, "%s", d.Message)
		}
		if err != nil {
			s.log.Warn("plugin before-write failed; refusing the write", "plugin", wp.id, "install", in.Slug, "err", err)
			return pluginFailed(wp.id, err)
		}
		if after == nil {
			continue
		}
		if change.OwnerID != nil {
			after.OwnerID = *change.OwnerID
		}
		if change.TeamID != nil {
			after.TeamID = *change.TeamID
		}
	}
	return nil
}

// writeEvent is an after-write event as the outbox keeps it; the plugin's
// settings are read when it is delivered.
type writeEvent struct {
	Install   sdk.Install `json:"install"`
	User      sdk.User    `json:"user"`
	Operation string      `json:"operation"`
	Before    *sdk.Record `json:"before,omitempty"`
	After     *sdk.Record `json:"after,omitempty"`
	At        time.Time   `json:"at"`
}

// enqueueWrites adds the events of committed-with-this-transaction writes
// for every active plugin with an after-write hook; each write is a
// (before, after) pair.
func (s *Service) enqueueWrites(ctx context.Context, tx *store.Tx, se session, v viewer, acts []crm.PluginActivation, op string, writes ...[2]*crm.Record) error {
	targets := s.writePlugins(acts, sdk.HookAfter)
	if len(targets) == 0 {
		return nil
	}
	now := s.clock()
	var events []store.OutboxEvent
	for _, w := range writes {
		e := writeEvent{Install: pluginInstall(se.p.Install), User: writer(se, v), Operation: op, At: now}
		if w[0] != nil {
			e.Before = sdkRecord(*w[0])
		}
		if w[1] != nil {
			e.After = sdkRecord(*w[1])
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode write event: %w", err)
		}
		for _, t := range targets {
			events = append(events, store.OutboxEvent{ID: crm.NewID(), InstallID: e.Install.ID, PluginID: t.id, Event: raw, NextAt: now, CreatedAt: now})
		}
	}
	return tx.EnqueueEvents(ctx, events...)
}

// pluginAdjustments checks what the before-write hooks changed of a record
// (planned: before the hooks, next: after) and returns the audit events of
// those changes.
func (s *Service) pluginAdjustments(ctx context.Context, tx *store.Tx, se session, v viewer, planned, next crm.Record) ([]crm.AuditEvent, error) {
	owner, team := planned.OwnerID != next.OwnerID, planned.TeamID != next.TeamID
	if !owner && !team {
		return nil, nil
	}
	if err := s.checkReferences(ctx, tx, v, next, owner, team, false); err != nil {
		return nil, fmt.Errorf("a plugin's change to the record: %w", err)
	}
	ref := crm.Ref{Type: next.Type, ID: next.ID}
	var events []crm.AuditEvent
	if owner {
		events = append(events, s.audit(se.p, crm.AuditRecordAssign, ref, map[string]any{"from": nullable(planned.OwnerID), "to": nullable(next.OwnerID), "by_plugin": true}))
	}
	if team {
		events = append(events, s.audit(se.p, crm.AuditRecordUpdate, ref, map[string]any{"fields": []string{"team_id"}, "team": teamChange(planned.TeamID, next.TeamID), "by_plugin": true}))
	}
	return events, nil
}

// bulkChunk bounds the records read or written at once in a bulk change.
const bulkChunk = 500

// bulkHooks runs the write hooks over a bulk move between teams (a bulk
// reassignment decides each record as Assign To does: see Reassign),
// inside its transaction: each changed record goes
// through the before-write hooks (one refusal refuses the whole change)
// and gets its after-write events. undo turns a changed record back into
// what it was. Without such plugins it costs nothing.
func (s *Service) bulkHooks(ctx context.Context, tx *store.Tx, se session, v viewer, acts []crm.PluginActivation, op string, t crm.RecordType, ids []string, undo func(*crm.Record)) error {
	if len(s.writePlugins(acts, sdk.HookBefore)) == 0 && len(s.writePlugins(acts, sdk.HookAfter)) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += bulkChunk {
		chunk := ids[start:min(start+bulkChunk, len(ids))]
		recs, err := tx.RecordsByID(ctx, se.p.Install.ID, t, chunk)
		if err != nil {
			return err
		}
		var writes [][2]*crm.Record
		for _, id := range chunk {
			moved, ok := recs[id]
			if !ok {
				continue
			}
			before := moved
			undo(&before)
			before.Version = moved.Version - 1
			next := moved
			if err := s.beforeWrite(ctx, se, v, acts, op, &before, &next); err != nil {
				if e, ok := crm.AsError(err); ok && e.Kind == crm.KindForbidden {
					// One refusal refuses them all: say which record.
					return crm.Errorf(e.Kind, e.Code, "%s %s: %s; no record was changed", t, id, e.Message)
				}
				return err
			}
			adjusted, err := s.pluginAdjustments(ctx, tx, se, v, moved, next)
			if err != nil {
				return err
			}
			if len(adjusted) > 0 {
				next.Version++
				if next.Version, err = tx.UpdateRecord(ctx, next, moved.Version); err != nil {
					return err
				}
				if err := tx.AppendAudit(ctx, adjusted...); err != nil {
					return err
				}
			}
			writes = append(writes, [2]*crm.Record{&before, &next})
		}
		if err := s.enqueueWrites(ctx, tx, se, v, acts, op, writes...); err != nil {
			return err
		}
	}
	return nil
}
