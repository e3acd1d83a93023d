package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// Host is an in-memory host API for in-process tests, with the host's
// rules for what it keeps: a key-value store with compare-and-set and
// expiry, the plugin's grants, records, users, teams and roles that the
// test adds, and what the plugin appended to the audit log, notified and
// invalidated. One Host stands for the host of one plugin.
type Host struct {
	// Plugin, when set, is the plugin the host runs: Check decides with
	// its policy hook over the base policy, as the host does.
	Plugin sdk.Plugin
	// Source is the plugin id given to the grants the plugin creates
	// (default "plugin").
	Source string
	// Now is the host's clock (default time.Now).
	Now func() time.Time

	mu       sync.Mutex
	entries  map[[2]string]hostEntry
	version  int64
	grants   map[string]sdk.Grant // by id
	installs map[string]*fakeInstall

	// Audited, Notified and Invalidated record what the plugin did, by
	// install id.
	Audited     map[string][]sdk.AuditEntry
	Notified    map[string][]sdk.Notification
	Invalidated map[string][]string // user ids; "" for the whole install
}

type fakeInstall struct {
	settings json.RawMessage
	users    map[string]sdk.UserInfo
	teams    []sdk.Team
	roles    []sdk.Role
	records  map[sdk.Ref]sdk.Record
}

type hostEntry struct {
	value   []byte
	version int64
	expires time.Time // zero: never
}

// NewHost returns an empty fake host.
func NewHost() *Host {
	return &Host{
		Source: "plugin", Now: time.Now, entries: map[[2]string]hostEntry{}, grants: map[string]sdk.Grant{}, installs: map[string]*fakeInstall{},
		Audited: map[string][]sdk.AuditEntry{}, Notified: map[string][]sdk.Notification{}, Invalidated: map[string][]string{},
	}
}

func (h *Host) install(id string) *fakeInstall {
	in, ok := h.installs[id]
	if !ok {
		in = &fakeInstall{users: map[string]sdk.UserInfo{}, records: map[sdk.Ref]sdk.Record{}, roles: []sdk.Role{
			{Name: "admin", Capabilities: []string{"admin"}, BuiltIn: true}, {Name: "manager", Capabilities: []string{"reassign"}, BuiltIn: true},
			{Name: "member", BuiltIn: true}}}
		h.installs[id] = in
	}
	return in
}

// AddUser adds a user to an install (an empty role is "member").
func (h *Host) AddUser(installID string, u sdk.UserInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u.Role == "" {
		u.Role = "member"
	}
	h.install(installID).users[u.ID] = u
}

// AddTeam adds a team to an install.
func (h *Host) AddTeam(installID string, t sdk.Team) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.install(installID).teams = append(h.install(installID).teams, t)
}

// AddRecord adds a record to an install. It is kept as the host would
// send it, through the protocol: numbers in its data become json.Number
// ({"n": 5} reads back as json.Number("5")), times milliseconds.
func (h *Host) AddRecord(installID string, r sdk.Record) {
	sent := *sdk.RecordOf(sdk.WireRecord(&r))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.install(installID).records[sdk.Ref{Type: r.Type, ID: r.ID}] = sent
}

// SetSettings sets the plugin's settings for an install, as Check uses
// them.
func (h *Host) SetSettings(installID string, settings json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.install(installID).settings = settings
}

func (h *Host) live(k [2]string) (hostEntry, bool) {
	e, ok := h.entries[k]
	if ok && !e.expires.IsZero() && !h.Now().Before(e.expires) {
		delete(h.entries, k)
		return hostEntry{}, false
	}
	return e, ok
}

// KVGet is part of sdk.Host.
func (h *Host) KVGet(_ context.Context, installID, key string) (sdk.KVValue, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live([2]string{installID, key})
	return sdk.KVValue{Value: e.value, Version: e.version}, ok, nil
}

// KVSet is part of sdk.Host.
func (h *Host) KVSet(_ context.Context, installID, key string, value []byte, opts sdk.KVSetOptions) (int64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := [2]string{installID, key}
	cur, _ := h.live(k)
	if opts.IfVersion != nil && *opts.IfVersion != cur.version {
		return cur.version, false, nil
	}
	h.version++
	e := hostEntry{value: append([]byte(nil), value...), version: h.version}
	if opts.TTL > 0 {
		e.expires = h.Now().Add(opts.TTL)
	}
	h.entries[k] = e
	return e.version, true, nil
}

// KVDelete is part of sdk.Host.
func (h *Host) KVDelete(_ context.Context, installID, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.entries, [2]string{installID, key})
	return nil
}

// invalid and missing are refusals as the real host's come to a plugin.
func invalid(format string, args ...any) error {
	return &sdk.HostError{Kind: sdk.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

func missing(format string, args ...any) error {
	return &sdk.HostError{Kind: sdk.ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// CreateGrant is part of sdk.Host.
func (h *Host) CreateGrant(_ context.Context, installID string, g sdk.NewGrant) (sdk.Grant, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.install(installID)
	if _, ok := in.records[g.Record]; !ok {
		return sdk.Grant{}, missing("record %s %s", g.Record.Type, g.Record.ID)
	}
	if err := h.checkGrant(in, g.SubjectType, g.SubjectID, g.Actions, g.ExpiresAt); err != nil {
		return sdk.Grant{}, err
	}
	out := sdk.Grant{ID: crm.NewID(), Record: g.Record, SubjectType: g.SubjectType, SubjectID: g.SubjectID, Actions: g.Actions,
		ExpiresAt: g.ExpiresAt, Source: h.Source, CreatedBy: g.ActorID, CreatedAt: h.Now()}
	h.grants[installID+"/"+out.ID] = out
	return out, nil
}

func (h *Host) checkGrant(in *fakeInstall, subjectType, subjectID string, actions []sdk.Action, expires *time.Time) error {
	switch subjectType {
	case sdk.SubjectUser:
		if _, ok := in.users[subjectID]; !ok {
			return invalid("subject_id: no user %s", subjectID)
		}
	case sdk.SubjectTeam:
		if !slices.ContainsFunc(in.teams, func(t sdk.Team) bool { return t.ID == subjectID }) {
			return invalid("subject_id: no team %s", subjectID)
		}
	default:
		return invalid("subject_type: %q", subjectType)
	}
	if len(actions) == 0 {
		return invalid("actions: at least one is needed")
	}
	if slices.Contains(actions, sdk.ActionAdd) {
		return invalid("actions: a grant cannot give add")
	}
	if slices.Contains(actions, sdk.ActionDelete) && !slices.Contains(actions, sdk.ActionEdit) {
		return invalid("actions: delete needs edit too")
	}
	if expires != nil && !expires.After(h.Now()) {
		return invalid("expires_at: has passed")
	}
	return nil
}

// UpdateGrant is part of sdk.Host.
func (h *Host) UpdateGrant(_ context.Context, installID, grantID string, c sdk.GrantChange) (sdk.Grant, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.grants[installID+"/"+grantID]
	if !ok {
		return sdk.Grant{}, missing("grant %s", grantID)
	}
	if len(c.Actions) > 0 {
		g.Actions = c.Actions
	}
	if c.SetExpiry {
		g.ExpiresAt = c.ExpiresAt
	}
	if err := h.checkGrant(h.install(installID), g.SubjectType, g.SubjectID, g.Actions, g.ExpiresAt); err != nil {
		return sdk.Grant{}, err
	}
	h.grants[installID+"/"+grantID] = g
	return g, nil
}

// RevokeGrant is part of sdk.Host.
func (h *Host) RevokeGrant(_ context.Context, installID, grantID, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.grants[installID+"/"+grantID]; !ok {
		return missing("grant %s", grantID)
	}
	delete(h.grants, installID+"/"+grantID)
	return nil
}

// ListGrants is part of sdk.Host; it returns every match on one page.
func (h *Host) ListGrants(_ context.Context, installID string, q sdk.GrantQuery) ([]sdk.Grant, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.Now()
	var out []sdk.Grant
	for k, g := range h.grants {
		expired := g.ExpiresAt != nil && !g.ExpiresAt.After(now)
		switch {
		case !strings.HasPrefix(k, installID+"/"),
			q.RecordType != "" && g.Record.Type != q.RecordType, q.RecordID != "" && g.Record.ID != q.RecordID,
			q.SubjectType != "" && g.SubjectType != q.SubjectType, q.SubjectID != "" && g.SubjectID != q.SubjectID,
			(q.State == "" || q.State == "active") && expired, q.State == "expired" && !expired:
			continue
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b sdk.Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, "", nil
}

// Grant is part of sdk.Host.
func (h *Host) Grant(_ context.Context, installID, grantID string) (sdk.Grant, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.grants[installID+"/"+grantID]
	if !ok {
		return sdk.Grant{}, missing("grant %s", grantID)
	}
	return g, nil
}

// Record is part of sdk.Host.
func (h *Host) Record(ctx context.Context, installID string, ref sdk.Ref, asUserID string) (sdk.Record, error) {
	h.mu.Lock()
	r, ok := h.install(installID).records[ref]
	h.mu.Unlock()
	if !ok {
		return sdk.Record{}, missing("record %s %s", ref.Type, ref.ID)
	}
	if asUserID != "" {
		seen, err := h.Check(ctx, installID, asUserID, sdk.ActionView, ref)
		if err != nil {
			return sdk.Record{}, err
		}
		if !seen[0] {
			return sdk.Record{}, missing("record %s %s", ref.Type, ref.ID)
		}
	}
	return r, nil
}

// Records is part of sdk.Host; it returns every match on one page, newest
// first.
func (h *Host) Records(ctx context.Context, installID string, q sdk.RecordQuery) ([]sdk.Record, string, error) {
	h.mu.Lock()
	var out []sdk.Record
	for _, r := range h.install(installID).records {
		if r.Type != q.Type || (q.OwnerID == "none" && r.OwnerID != "") || (q.OwnerID != "" && q.OwnerID != "none" && r.OwnerID != q.OwnerID) ||
			(q.TeamID != "" && r.TeamID != q.TeamID) {
			continue
		}
		out = append(out, r)
	}
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b sdk.Record) int { return strings.Compare(b.ID, a.ID) })
	if q.AsUserID != "" {
		var seen []sdk.Record
		for _, r := range out {
			ok, err := h.Check(ctx, installID, q.AsUserID, sdk.ActionView, sdk.Ref{Type: r.Type, ID: r.ID})
			if err != nil {
				return nil, "", err
			}
			if ok[0] {
				seen = append(seen, r)
			}
		}
		out = seen
	}
	return out, "", nil
}

// CountRecords is part of sdk.Host: it counts what Records lists.
func (h *Host) CountRecords(ctx context.Context, installID string, q sdk.RecordQuery) (sdk.RecordCount, error) {
	recs, _, err := h.Records(ctx, installID, q)
	if err != nil {
		return sdk.RecordCount{}, err
	}
	out := sdk.RecordCount{ByTeam: map[string]int64{}}
	for _, r := range recs {
		out.Total++
		out.ByTeam[r.TeamID]++
	}
	return out, nil
}

// MoveRecordsTeam is part of sdk.Host. Like the host, it moves nothing
// unless the actor is an admin, the teams exist and every listed record
// does, in the team it is said to be in; it runs no write hooks.
func (h *Host) MoveRecordsTeam(_ context.Context, installID string, m sdk.TeamMove) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.install(installID)
	if u, ok := in.users[m.ActorID]; !ok || u.Role != "admin" {
		return 0, invalid("actor_id: %s is not an admin of the install", m.ActorID)
	}
	team := func(id string) (string, error) {
		if id == "" || id == "none" {
			return "", nil
		}
		if !slices.ContainsFunc(in.teams, func(t sdk.Team) bool { return t.ID == id }) {
			return "", invalid("no team %s", id)
		}
		return id, nil
	}
	from, err := team(m.FromTeamID)
	if err != nil {
		return 0, err
	}
	to, err := team(m.ToTeamID)
	if err != nil {
		return 0, err
	}
	var refs []sdk.Ref
	for _, id := range m.IDs {
		ref := sdk.Ref{Type: m.Type, ID: id}
		r, ok := in.records[ref]
		if !ok || (m.FromTeamID != "" && r.TeamID != from) {
			return 0, invalid("ids: no %s %s in team %q", m.Type, id, m.FromTeamID)
		}
		refs = append(refs, ref)
	}
	if len(m.IDs) == 0 {
		for ref, r := range in.records {
			if ref.Type == m.Type && r.TeamID == from {
				refs = append(refs, ref)
			}
		}
	}
	moved := 0
	for _, ref := range refs {
		if r := in.records[ref]; r.TeamID != to {
			r.TeamID = to
			r.Version++
			in.records[ref] = r
			moved++
		}
	}
	return moved, nil
}

// Check is part of sdk.Host: it decides as the host does, with the base
// policy of the user's role changed by the Plugin's policy hook (when it
// has one), over the records and grants the host holds; with add, about a
// new record of each ref's type (its id is not looked at).
func (h *Host) Check(ctx context.Context, installID, userID string, action sdk.Action, refs ...sdk.Ref) ([]bool, error) {
	h.mu.Lock()
	in := h.install(installID)
	u, ok := in.users[userID]
	settings := in.settings
	h.mu.Unlock()
	if !ok {
		return nil, invalid("user_id: no user %s", userID)
	}
	policy := BasePolicy(u.Role == "admin")
	if f, ok := h.Plugin.(sdk.PolicyFilter); ok {
		var err error
		policy, err = f.Policy(sdk.WithHost(ctx, h), sdk.PolicyRequest{Install: sdk.Install{ID: installID}, Settings: settings, Policy: policy,
			User: sdk.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Teams: u.Teams}})
		if err != nil {
			return nil, err
		}
	}
	out := make([]bool, len(refs))
	subject := access.Subject{UserID: u.ID, Teams: u.Teams}
	for i, ref := range refs {
		if action == sdk.ActionAdd { // about a record not yet created, of ref's type
			out[i] = access.Evaluate(policy, subject, action, access.NewRecord(ref.Type, subject), h.Now()).Allowed
			continue
		}
		h.mu.Lock()
		r, ok := in.records[ref]
		var grants []access.GrantFact
		for k, g := range h.grants {
			if g.Record == ref && strings.HasPrefix(k, installID+"/") {
				grants = append(grants, access.GrantFact{SubjectType: g.SubjectType, SubjectID: g.SubjectID, Actions: g.Actions, Source: g.Source, ExpiresAt: g.ExpiresAt})
			}
		}
		h.mu.Unlock()
		if !ok {
			continue
		}
		f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID, Grants: grants}
		now := h.Now()
		out[i] = access.Evaluate(policy, subject, sdk.ActionView, f, now).Allowed && access.Evaluate(policy, subject, action, f, now).Allowed
	}
	return out, nil
}

// User is part of sdk.Host.
func (h *Host) User(_ context.Context, installID, userID string) (sdk.UserInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.install(installID).users[userID]
	if !ok {
		return sdk.UserInfo{}, missing("user %s", userID)
	}
	return u, nil
}

// Users is part of sdk.Host; it returns every user on one page, by id.
func (h *Host) Users(_ context.Context, installID, _ string, _ int) ([]sdk.UserInfo, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.UserInfo
	for _, u := range h.install(installID).users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b sdk.UserInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, "", nil
}

// Teams is part of sdk.Host.
func (h *Host) Teams(_ context.Context, installID string) ([]sdk.Team, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.install(installID).teams), nil
}

// Roles is part of sdk.Host.
func (h *Host) Roles(_ context.Context, installID string) ([]sdk.Role, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.install(installID).roles), nil
}

// Audit is part of sdk.Host.
func (h *Host) Audit(_ context.Context, installID string, e sdk.AuditEntry) error {
	if e.Action == "" {
		return invalid("action: required")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Audited[installID] = append(h.Audited[installID], e)
	return nil
}

// Notify is part of sdk.Host.
func (h *Host) Notify(_ context.Context, installID string, n sdk.Notification) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(n.UserIDs) == 0 || n.Subject == "" {
		return invalid("a notification needs users and a subject")
	}
	for _, id := range n.UserIDs {
		if _, ok := h.install(installID).users[id]; !ok {
			return invalid("user_ids: no user %s", id)
		}
	}
	h.Notified[installID] = append(h.Notified[installID], n)
	return nil
}

// Invalidate is part of sdk.Host.
func (h *Host) Invalidate(_ context.Context, installID, userID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Invalidated[installID] = append(h.Invalidated[installID], userID)
	return nil
}

// Route sends a request to p's routes in-process, as the host forwards
// one: from caller, with host as the host API.
func Route(p sdk.Router, host sdk.Host, caller sdk.CallerInfo, method, path, body string) *httptest.ResponseRecorder {
	if caller.Now.IsZero() {
		caller.Now = time.Now().UTC()
		if h, ok := host.(*Host); ok {
			caller.Now = h.Now().UTC()
		}
	}
	ctx := sdk.WithHost(sdk.WithCaller(context.Background(), caller), host)
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	p.Routes().ServeHTTP(w, req)
	return w
}
