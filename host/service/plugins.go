package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// UsePlugins gives the service the host's running plugins: installs may
// activate them, and the policy of every user of an install goes through
// the policy hooks of its active plugins. Call it once, before serving:
// the plugins are started with the service's host API (PluginHost), so
// the service comes first.
func (s *Service) UsePlugins(r *plugins.Runtime) { s.plugins = r }

var errPluginUnavailable = crm.Errorf(crm.KindUnavailable, "plugin_unavailable",
	"a plugin this install depends on cannot answer right now; nothing is shown without it, try again shortly")

// pluginFailed is the error of a request that a plugin's hook failed: 500
// plugin_error, naming the plugin, when the plugin failed on the call
// itself (its hook panicked; it serves on), 503 plugin_unavailable when it
// could not be reached. Either way the request is refused: nothing is
// shown or written without the plugin.
func pluginFailed(id string, err error) error {
	if plugins.IsFault(err) {
		return crm.Errorf(crm.KindPlugin, "plugin_error",
			"plugin %s failed on this request and it was refused; its log has the details", id)
	}
	return errPluginUnavailable
}

// PluginStatus is a plugin as an install sees it.
type PluginStatus struct {
	ID             string
	Name           string
	Version        string
	Description    string
	Priority       int
	Hooks          []string
	SettingsSchema json.RawMessage
	Active         bool // for the caller's install
	Running        bool // the host runs it now
}

// inOrder returns the host's plugins, up or down, in policy order.
func (s *Service) inOrder() []*plugins.Plugin {
	if s.plugins == nil {
		return nil
	}
	return s.plugins.Plugins()
}

func (s *Service) plugin(id string) (*plugins.Plugin, bool) {
	if s.plugins == nil {
		return nil, false
	}
	return s.plugins.Plugin(id)
}

// ListPlugins returns the plugins of the host, with whether the caller's
// install has each active, and the plugins the install has active that the
// host does not run now. Admins also get the binaries that could not be
// used.
func (s *Service) ListPlugins(ctx context.Context, p crm.Principal) ([]PluginStatus, []plugins.Problem, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	list, problems, err := s.InstallPlugins(ctx, p.Install)
	if !p.Role.Has(crm.CapAdmin) {
		problems = nil
	}
	return list, problems, err
}

// InstallPlugins returns the plugins of the host as install in sees them,
// and the binaries that could not be used: for operators.
func (s *Service) InstallPlugins(ctx context.Context, in crm.Install) ([]PluginStatus, []plugins.Problem, error) {
	acts, err := s.db.PluginActivations(ctx, in.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins: %w", err)
	}
	active := map[string]bool{}
	for _, a := range acts {
		active[a.PluginID] = a.Active
	}
	var out []PluginStatus
	for _, pl := range s.inOrder() {
		out = append(out, statusOf(pl, active[pl.Manifest.ID]))
		delete(active, pl.Manifest.ID)
	}
	var missing []string
	for id, on := range active {
		if on {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	for _, id := range missing {
		out = append(out, PluginStatus{ID: id, Active: true})
	}
	var problems []plugins.Problem
	if s.plugins != nil {
		problems = s.plugins.Problems()
	}
	return out, problems, nil
}

func statusOf(pl *plugins.Plugin, active bool) PluginStatus {
	m := pl.Manifest
	return PluginStatus{ID: m.ID, Name: m.Name, Version: m.Version, Description: m.Description, Priority: m.Priority,
		Hooks: pl.Hooks, SettingsSchema: m.SettingsSchema, Active: active, Running: pl.Running()}
}

// activation returns the install's activation of a plugin; a plugin the
// install never activated has its manifest's default settings.
func activation(ctx context.Context, q *store.Queries, in crm.Install, pl *plugins.Plugin, id string) (crm.PluginActivation, error) {
	acts, err := q.PluginActivations(ctx, in.ID)
	if err != nil {
		return crm.PluginActivation{}, err
	}
	for _, a := range acts {
		if a.PluginID == id {
			return a, nil
		}
	}
	a := crm.PluginActivation{InstallID: in.ID, PluginID: id, Settings: json.RawMessage("{}")}
	if pl != nil && len(pl.Manifest.DefaultSettings) > 0 {
		a.Settings = pl.Manifest.DefaultSettings
	}
	return a, nil
}

func unknownPlugin(id string) error {
	return crm.Errorf(crm.KindNotFound, "unknown_plugin", "no plugin %q on this host", id)
}

// SetPluginActive activates or deactivates a plugin for the caller's
// install (admins only). Activation needs the plugin running and the
// install's settings matching its settings schema, and runs the plugin's
// hook; deactivation works on a plugin that is down too, so that an
// install can always turn a broken plugin off. Settings are kept.
func (s *Service) SetPluginActive(ctx context.Context, p crm.Principal, id string, on bool) (PluginStatus, error) {
	if err := s.checkWritable(ctx); err != nil {
		return PluginStatus{}, err
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return PluginStatus{}, err
	}
	return s.setPluginActive(ctx, p.Install, p.User.ID, id, on)
}

// OperatorSetPluginActive is SetPluginActive for an operator at the
// command line: no user acts, the audit names none.
func (s *Service) OperatorSetPluginActive(ctx context.Context, in crm.Install, id string, on bool) (PluginStatus, error) {
	if err := s.checkWritable(ctx); err != nil {
		return PluginStatus{}, err
	}
	return s.setPluginActive(ctx, in, "", id, on)
}

func (s *Service) setPluginActive(ctx context.Context, install crm.Install, actorID, id string, on bool) (PluginStatus, error) {
	pl, known := s.plugin(id)
	running := known && pl.Running()
	a, err := activation(ctx, &s.db.Queries, install, pl, id)
	if err != nil {
		return PluginStatus{}, fmt.Errorf("plugin activation: %w", err)
	}
	switch {
	case !known && a.UpdatedAt.IsZero():
		return PluginStatus{}, unknownPlugin(id)
	case on && !running:
		return PluginStatus{}, errPluginUnavailable
	}
	if on {
		// Settings stored before the plugin's schema changed (an upgrade)
		// are not handed to it: the admin fixes them first.
		if err := pl.CheckSettings(a.Settings); err != nil {
			return PluginStatus{}, crm.Invalid("invalid_settings",
				"settings of %s no longer match its settings schema (%s); change them before activating it", id, err)
		}
	}
	in := pluginInstall(install)
	switch {
	case on:
		// The hook may use the host API for this install before the
		// activation is stored.
		done := s.hookFor(install.ID, id)
		err := pl.Activate(ctx, in, a.Settings)
		done()
		if err != nil {
			s.log.Warn("plugin activation failed", "plugin", id, "install", install.Slug, "err", err)
			if plugins.IsFault(err) {
				return PluginStatus{}, pluginFailed(id, err)
			}
			return PluginStatus{}, crm.Errorf(crm.KindUnavailable, "plugin_failed", "plugin %s could not be activated: %s", id, grpcMessage(err))
		}
	case running:
		if err := pl.Deactivate(ctx, in, a.Settings); err != nil {
			s.log.Warn("plugin deactivation hook failed; deactivating anyway", "plugin", id, "install", install.Slug, "err", err)
		}
	}
	a.Active, a.UpdatedAt = on, s.clock()
	action := crm.AuditPluginDeactivate
	if on {
		action = crm.AuditPluginActivate
	}
	if err := s.putActivation(ctx, actorID, a, action); err != nil {
		return PluginStatus{}, err
	}
	if !known {
		return PluginStatus{ID: id, Active: on}, nil
	}
	return statusOf(pl, on), nil
}

// putActivation stores an activation with its audit event, then voids the
// install's cached policies.
func (s *Service) putActivation(ctx context.Context, actorID string, a crm.PluginActivation, action string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.PutPluginActivation(ctx, a); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, crm.AuditEvent{ID: crm.NewID(), InstallID: a.InstallID, At: a.UpdatedAt, ActorID: actorID,
			Action: action, Detail: map[string]any{"plugin": a.PluginID, "active": a.Active}})
	})
	if err != nil {
		return fmt.Errorf("plugin activation: %w", err)
	}
	s.invalidate(ctx, a.InstallID, []string{cache.InstallGen(a.InstallID)}, nil)
	return nil
}

// PluginSettings returns a plugin's settings for the caller's install
// (admins only).
func (s *Service) PluginSettings(ctx context.Context, p crm.Principal, id string) (json.RawMessage, error) {
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return nil, err
	}
	pl, known := s.plugin(id)
	a, err := activation(ctx, &s.db.Queries, p.Install, pl, id)
	if err != nil {
		return nil, fmt.Errorf("plugin settings: %w", err)
	}
	if !known && a.UpdatedAt.IsZero() {
		return nil, unknownPlugin(id)
	}
	return a.Settings, nil
}

// UpdatePluginSettings replaces a plugin's settings for the caller's
// install (admins only), once they match the plugin's settings schema and
// the plugin has accepted them.
func (s *Service) UpdatePluginSettings(ctx context.Context, p crm.Principal, id string, settings json.RawMessage) (json.RawMessage, error) {
	if err := s.checkWritable(ctx); err != nil {
		return nil, err
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return nil, err
	}
	pl, known := s.plugin(id)
	if !known {
		a, err := activation(ctx, &s.db.Queries, p.Install, nil, id)
		if err != nil {
			return nil, fmt.Errorf("plugin settings: %w", err)
		}
		if a.UpdatedAt.IsZero() {
			return nil, unknownPlugin(id)
		}
		return nil, errPluginUnavailable // settings are checked by the plugin
	}
	if _, err := decodeObject(settings); err != nil {
		return nil, crm.Invalid("invalid_settings", "settings: must be a JSON object")
	}
	if err := pl.CheckSettings(settings); err != nil {
		return nil, crm.Invalid("invalid_settings", "settings of %s: %s", id, err)
	}
	done := s.hookFor(p.Install.ID, id) // the hook may read the install's roles, users...
	problem, err := pl.ValidateSettings(ctx, pluginInstall(p.Install), settings)
	done()
	if err != nil {
		s.log.Warn("plugin settings check failed", "plugin", id, "err", err)
		return nil, pluginFailed(id, err)
	}
	if problem != "" {
		return nil, crm.Invalid("invalid_settings", "settings of %s: %s", id, problem)
	}
	a, err := activation(ctx, &s.db.Queries, p.Install, pl, id)
	if err != nil {
		return nil, fmt.Errorf("plugin settings: %w", err)
	}
	a.Settings, a.UpdatedAt = settings, s.clock()
	if err := s.putActivation(ctx, p.User.ID, a, crm.AuditPluginSettings); err != nil {
		return nil, err
	}
	return settings, nil
}

// pluginsGetUsers reports whether an active plugin of the install is
// given users, through its policy hook or its routes. Only then are a
// user's managers and reports worked out: they are for plugins.
func (s *Service) pluginsGetUsers(acts []crm.PluginActivation) bool {
	for _, a := range acts {
		if pl, known := s.plugin(a.PluginID); a.Active && known && (pl.Has(sdk.HookPolicy) || pl.Has(sdk.HookHTTP)) {
			return true
		}
	}
	return false
}

// hierarchy works out a user's managers and reports from the manager links
// of their install.
func (s *Service) hierarchy(ctx context.Context, p crm.Principal) (*crm.Hierarchy, error) {
	links, err := s.db.ManagerLinks(ctx, p.Install.ID)
	if err != nil {
		return nil, fmt.Errorf("managers and reports of %s: %w", p.User.ID, err)
	}
	h := links.Hierarchy(p.User.ID)
	return &h, nil
}

// rolePeers works out the other users of the install who have the user's
// role, for plugins that treat a role as a team.
func (s *Service) rolePeers(ctx context.Context, p crm.Principal) ([]string, error) {
	peers, err := s.db.RolePeers(ctx, p.Install.ID, p.User.Role, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("role peers of %s: %w", p.User.ID, err)
	}
	return peers, nil
}

// pluginInstall is an install as plugins are given it, with its time
// zone (UTC for an install whose settings predate it).
func pluginInstall(in crm.Install) sdk.Install {
	tz := in.Settings.Timezone
	if tz == "" {
		tz = crm.DefaultTimezone
	}
	return sdk.Install{ID: in.ID, Slug: in.Slug, Timezone: tz}
}

// pluginUser is a user as plugins are given them, with the other users of
// their role; h nil gives them no managers and no reports.
func pluginUser(p crm.Principal, teams []string, h *crm.Hierarchy, rolePeers []string) sdk.User {
	u := sdk.User{ID: p.User.ID, Email: p.User.Email, Name: p.User.Name, Role: p.Role.Name, Teams: teams, RolePeers: rolePeers}
	if h != nil {
		u.Managers, u.Reports = h.Managers, h.Reports
	}
	return u
}

// pluginPolicy runs a user's policy through the policy hooks of the
// install's active plugins, in order. A plugin that is active but cannot
// answer fails the computation closed: never the policy without it.
func (s *Service) pluginPolicy(ctx context.Context, p crm.Principal, acts []crm.PluginActivation, u sdk.User, policy sdk.Policy) (sdk.Policy, error) {
	var err error
	settings := map[string]json.RawMessage{}
	for _, a := range acts {
		if a.Active {
			settings[a.PluginID] = a.Settings
		}
	}
	if len(settings) == 0 {
		return policy, nil
	}
	in := pluginInstall(p.Install)
	for _, pl := range s.inOrder() {
		raw, active := settings[pl.Manifest.ID]
		if !active {
			continue
		}
		delete(settings, pl.Manifest.ID)
		if policy, err = pl.Policy(ctx, in, u, raw, policy); err != nil {
			s.log.Warn("plugin policy failed; refusing", "plugin", pl.Manifest.ID, "install", p.Install.Slug, "err", err)
			return sdk.Policy{}, pluginFailed(pl.Manifest.ID, err)
		}
	}
	for id := range settings {
		s.log.Warn("an active plugin is not running; refusing", "plugin", id, "install", p.Install.Slug)
		return sdk.Policy{}, errPluginUnavailable
	}
	return policy, nil
}

// grpcMessage is the message of a plugin's error, without the transport's
// wording.
func grpcMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// PluginRequest is a request to a plugin's routes.
type PluginRequest struct {
	Method string
	Path   string // below /v1/plugins/{id}/api, starting with "/", decoded
	// RawPath is Path as the client wrote it, percent-encoding kept: an
	// encoded "/" or "?" stays part of its segment. Empty: Path is all
	// there is.
	RawPath string
	Query   string
	Headers map[string]string // without the caller's credentials
	Body    []byte
}

// PluginHTTP forwards a request to the routes of a plugin the caller's
// install has active, with who the caller is. A plugin that is not active
// in the install has no routes there.
func (s *Service) PluginHTTP(ctx context.Context, p crm.Principal, id string, req PluginRequest) (plugins.Response, error) {
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return plugins.Response{}, err
	}
	p = se.p // the caller and their install as they are now (settings, time zone)
	acts, err := se.activations(ctx)
	if err != nil {
		return plugins.Response{}, err
	}
	i := slices.IndexFunc(acts, func(a crm.PluginActivation) bool { return a.PluginID == id && a.Active })
	pl, known := s.plugin(id)
	if i < 0 || !known {
		return plugins.Response{}, crm.Errorf(crm.KindNotFound, "unknown_plugin", "no plugin %q is active in this install", id)
	}
	if !pl.Has(sdk.HookHTTP) {
		return plugins.Response{}, crm.Errorf(crm.KindNotFound, "no_route", "plugin %s has no routes", id)
	}
	// The cached policy carries the caller's managers, reports and role
	// peers, unless a replica whose plugins were not given users worked it
	// out.
	h, peers := v.hierarchy, v.rolePeers
	if h == nil {
		if h, err = s.hierarchy(ctx, p); err != nil {
			return plugins.Response{}, err
		}
		if peers, err = s.rolePeers(ctx, p); err != nil {
			return plugins.Response{}, err
		}
	}
	resp, err := pl.HTTP(ctx, plugins.Request{
		Install:  pluginInstall(p.Install),
		User:     pluginUser(p, v.subject.Teams, h, peers),
		Settings: acts[i].Settings,
		Method:   req.Method, Path: req.Path, RawPath: req.RawPath, Query: req.Query, Headers: req.Headers, Body: req.Body,
		Now: s.clock(),
	})
	var busy *plugins.BusyError
	switch {
	case errors.As(err, &busy):
		return plugins.Response{}, &crm.Error{Kind: crm.KindRateLimited, Code: "plugin_busy", RetryAfter: busy.RetryAfter,
			Message: fmt.Sprintf("plugin %s is answering %d calls of this install already, as many as one install may have at once; try again in %d s",
				id, busy.Limit, int((busy.RetryAfter+time.Second-1)/time.Second))}
	case err != nil:
		s.log.Warn("plugin route failed", "plugin", id, "err", err)
		return plugins.Response{}, pluginFailed(id, err)
	}
	return resp, nil
}

// PluginHealth returns the status of each plugin of the host, by id: its
// state ("running", "restarting", "failed"), since when, its restarts and
// failures in a row, for readiness reports.
func (s *Service) PluginHealth() map[string]plugins.Status {
	out := map[string]plugins.Status{}
	for _, pl := range s.inOrder() {
		out[pl.Manifest.ID] = pl.Status()
	}
	return out
}

// RestartPlugin takes a plugin of the host back into service and returns
// its state after: an operator's call, not a user's, since a plugin serves
// every install; the caller has authenticated the operator. A failed
// plugin is started at once with its failures forgotten; a running one is
// left running. It is logged, not audited: the audit log is per install.
func (s *Service) RestartPlugin(ctx context.Context, id string) (string, error) {
	pl, ok := s.plugin(id)
	if !ok {
		return "", unknownPlugin(id)
	}
	was := pl.State()
	err := pl.Restart(ctx)
	state := pl.State()
	s.log.Info("plugin restart by the operator", "plugin", id, "was", was, "state", state)
	if err != nil {
		s.log.Warn("plugin did not start", "plugin", id, "err", err)
		// Operators run the host: the reason is theirs to see.
		return state, crm.Errorf(crm.KindUnavailable, "plugin_failed", "%s; the plugin is now %s", err, state)
	}
	return state, nil
}
