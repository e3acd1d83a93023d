package service

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// PluginHost returns the host API that plugins call (DESIGN §9). Every call
// is scoped to the calling plugin, which the plugin runtime names in the
// call's context, and to the install the call names, which must have the
// plugin active (or be running its activation or settings hook): a plugin
// has no access to an install that has not turned it on.
func (s *Service) PluginHost() pluginv1.HostServer { return pluginHost{s: s} }

type pluginHost struct {
	pluginv1.UnimplementedHostServer
	s *Service
}

// Limits of what plugins may send.
const (
	maxKVKey       = 255
	maxAuditDetail = 64 << 10
	maxSubject     = 255
	maxBody        = 64 << 10
)

// scope returns the calling plugin and the install a call names.
func (h pluginHost) scope(ctx context.Context, installID string) (string, crm.Install, error) {
	plugin, ok := plugins.CallingPlugin(ctx)
	if !ok {
		return "", crm.Install{}, status.Error(codes.PermissionDenied, "no plugin named in the call")
	}
	if err := crm.ValidateID("install_id", installID); err != nil {
		return "", crm.Install{}, h.status(err)
	}
	in, err := h.s.db.InstallByID(ctx, installID)
	if err != nil {
		return "", crm.Install{}, h.status(notFound(err, crm.Errorf(crm.KindNotFound, "unknown_install", "no install %s", installID), "install"))
	}
	if !h.s.inHook(in.ID, plugin) {
		acts, err := h.s.db.PluginActivations(ctx, in.ID)
		if err != nil {
			return "", crm.Install{}, h.status(err)
		}
		if !slices.ContainsFunc(acts, func(a crm.PluginActivation) bool { return a.PluginID == plugin && a.Active }) {
			return "", crm.Install{}, status.Errorf(codes.PermissionDenied, "plugin %s is not active in install %s", plugin, in.Slug)
		}
	}
	return plugin, in, nil
}

// status turns an error into the status the plugin sees: the message of
// errors meant for callers, nothing of internal ones.
func (h pluginHost) status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	codeOf := map[crm.Kind]codes.Code{
		crm.KindInvalid: codes.InvalidArgument, crm.KindTooLarge: codes.InvalidArgument, crm.KindNotFound: codes.NotFound,
		crm.KindForbidden: codes.PermissionDenied, crm.KindConflict: codes.Aborted, crm.KindPrecondition: codes.FailedPrecondition,
		crm.KindUnavailable: codes.Unavailable,
	}
	if e, ok := crm.AsError(err); ok {
		if c, ok := codeOf[e.Kind]; ok {
			// The code travels too, for the plugin to answer with.
			st, err := status.New(c, e.Message).WithDetails(&errdetails.ErrorInfo{Reason: e.Code, Domain: sdk.ErrorDomain})
			if err != nil {
				return status.Error(c, e.Message)
			}
			return st.Err()
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.NotFound, "not found")
	}
	h.s.log.Error("host API call failed", "err", err)
	return status.Error(codes.Internal, "the host could not answer; try again")
}

func (h pluginHost) KVGet(ctx context.Context, req *pluginv1.KVGetRequest) (*pluginv1.KVGetResponse, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	e, found, err := h.s.db.KVGet(ctx, plugin, in.ID, req.GetKey(), h.s.clock())
	if err != nil {
		return nil, h.status(err)
	}
	return &pluginv1.KVGetResponse{Found: found, Value: e.Value, Version: e.Version}, nil
}

func (h pluginHost) KVSet(ctx context.Context, req *pluginv1.KVSetRequest) (*pluginv1.KVSetResponse, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if req.GetKey() == "" || len(req.GetKey()) > maxKVKey {
		return nil, status.Errorf(codes.InvalidArgument, "key: 1 to %d bytes", maxKVKey)
	}
	var ifVersion *int64
	if req.GetCheckVersion() {
		v := req.GetIfVersion()
		ifVersion = &v
	}
	now := h.s.clock()
	var expires *time.Time
	if ttl := req.GetTtlMs(); ttl > 0 {
		at := now.Add(time.Duration(ttl) * time.Millisecond)
		expires = &at
	}
	var version int64
	var stored bool
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		value := req.GetValue()
		if value == nil {
			value = []byte{} // an empty value is a value: the key exists
		}
		version, stored, err = tx.KVSet(ctx, plugin, in.ID, req.GetKey(), value, ifVersion, expires, now)
		return err
	})
	if err != nil {
		return nil, h.status(err)
	}
	return &pluginv1.KVSetResponse{Stored: stored, Version: version}, nil
}

func (h pluginHost) KVDelete(ctx context.Context, req *pluginv1.KVDeleteRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	return &pluginv1.Empty{}, h.status(h.s.db.KVDelete(ctx, plugin, in.ID, req.GetKey()))
}

// grantActions validates a grant's actions: known, and never delete
// without edit (DESIGN §6).
func grantActions(names []string) ([]sdk.Action, error) {
	if len(names) == 0 {
		return nil, crm.Invalid("invalid_actions", "actions: at least one is needed")
	}
	var out []sdk.Action
	for _, n := range names {
		a := sdk.Action(n)
		if !slices.Contains(sdk.Actions, a) {
			return nil, crm.Invalid("invalid_actions", "actions: unknown action %q; the actions are view, edit, delete, assign and share", n)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if slices.Contains(out, sdk.ActionDelete) && !slices.Contains(out, sdk.ActionEdit) {
		return nil, crm.Invalid("invalid_actions", "actions: delete needs edit too")
	}
	return out, nil
}

// expiry reads an expiry in Unix milliseconds (0: never), which must lie
// ahead.
func (h pluginHost) expiry(ms int64) (*time.Time, error) {
	if ms == 0 {
		return nil, nil
	}
	t := time.UnixMilli(ms).UTC()
	if !t.After(h.s.clock()) {
		return nil, crm.Invalid("invalid_expiry", "expires_at: %s has passed", t.Format(time.RFC3339))
	}
	return &t, nil
}

// checkActor checks that the user a plugin acts for is of the install.
func checkActor(ctx context.Context, q *store.Queries, installID, actorID string) error {
	if actorID == "" {
		return nil
	}
	if err := idsOf(q, installID).user("actor_id", actorID); err != nil {
		return err
	}
	_, err := q.User(ctx, installID, actorID)
	return notFound(err, crm.Invalid("unknown_user", "actor_id: no user %s in this install", actorID), "actor")
}

func (h pluginHost) GrantCreate(ctx context.Context, req *pluginv1.GrantCreateRequest) (*pluginv1.Grant, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if err := h.s.checkWritable(ctx); err != nil { // as every change of access: see checkWritable
		return nil, h.status(err)
	}
	g := crm.Grant{ID: crm.NewID(), InstallID: in.ID, SubjectType: req.GetSubjectType(), SubjectID: req.GetSubjectId(),
		Source: plugin, CreatedBy: req.GetActorId(), CreatedAt: h.s.clock()}
	ref, err := refOf(h.s.ids(in.ID), req.GetRecord(), "record")
	if err != nil {
		return nil, h.status(err)
	}
	g.RecordType, g.RecordID = ref.Type, ref.ID
	if g.Actions, err = grantActions(req.GetActions()); err != nil {
		return nil, h.status(err)
	}
	if g.ExpiresAt, err = h.expiry(req.GetExpiresAtMs()); err != nil {
		return nil, h.status(err)
	}
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Record(ctx, in.ID, ref.Type, ref.ID, true); err != nil {
			return notFound(err, crm.ErrRecordNotFound, "record")
		}
		if err := checkSubject(ctx, &tx.Queries, in.ID, g.SubjectType, g.SubjectID); err != nil {
			return err
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, g.CreatedBy); err != nil {
			return err
		}
		if err := tx.InsertGrant(ctx, g); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, grantAudit(g, crm.AuditGrantCreate, g.CreatedBy, g.CreatedAt))
	})
	if err != nil {
		return nil, h.status(err)
	}
	h.s.invalidateRecords(ctx, in.ID, ref)
	return wireGrant(g), nil
}

// checkSubject checks that a grant's subject is a user or team of the
// install.
func checkSubject(ctx context.Context, q *store.Queries, installID, subjectType, subjectID string) error {
	ids := idsOf(q, installID)
	check := ids.user
	if subjectType == sdk.SubjectTeam {
		check = ids.team
	}
	if err := check("subject_id", subjectID); err != nil {
		return err
	}
	switch subjectType {
	case sdk.SubjectUser:
		_, err := q.User(ctx, installID, subjectID)
		return notFound(err, crm.Invalid("unknown_user", "subject_id: no user %s in this install", subjectID), "subject")
	case sdk.SubjectTeam:
		_, err := q.Team(ctx, installID, subjectID)
		return notFound(err, crm.Invalid("unknown_team", "subject_id: no team %s in this install", subjectID), "subject")
	}
	return crm.Invalid("invalid_subject", `subject_type: must be "user" or "team", got %q`, subjectType)
}

// grantAudit is the audit event of a change to a grant, on its record, so
// that the record's access history shows it.
func grantAudit(g crm.Grant, action, actorID string, at time.Time) crm.AuditEvent {
	detail := map[string]any{"grant_id": g.ID, "source": g.Source, "subject_type": g.SubjectType, "subject_id": g.SubjectID,
		"actions": g.Actions, "expires_at": nil}
	if g.ExpiresAt != nil {
		detail["expires_at"] = g.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return crm.AuditEvent{ID: crm.NewID(), InstallID: g.InstallID, At: at, ActorID: actorID, Action: action,
		RecordType: g.RecordType, RecordID: g.RecordID, Detail: detail}
}

// pluginGrant loads, for a change, a grant of the install that belongs to
// the calling plugin; another plugin's grant is not found.
func pluginGrant(ctx context.Context, tx *store.Tx, installID, plugin, id string) (crm.Grant, error) {
	errMissing := crm.Errorf(crm.KindNotFound, "unknown_grant", "no grant %s of plugin %s in this install", id, plugin)
	if err := crm.ValidateID("grant_id", id); err != nil {
		return crm.Grant{}, err
	}
	g, err := tx.Grant(ctx, installID, id, true)
	if err != nil {
		return crm.Grant{}, notFound(err, errMissing, "grant")
	}
	if g.Source != plugin {
		return crm.Grant{}, errMissing
	}
	return g, nil
}

func (h pluginHost) GrantUpdate(ctx context.Context, req *pluginv1.GrantUpdateRequest) (*pluginv1.Grant, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if err := h.s.checkWritable(ctx); err != nil { // as every change of access: see checkWritable
		return nil, h.status(err)
	}
	var actions []sdk.Action
	if len(req.GetActions()) > 0 {
		if actions, err = grantActions(req.GetActions()); err != nil {
			return nil, h.status(err)
		}
	}
	var expires *time.Time
	if req.GetSetExpiresAt() {
		if expires, err = h.expiry(req.GetExpiresAtMs()); err != nil {
			return nil, h.status(err)
		}
	}
	var g crm.Grant
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if g, err = pluginGrant(ctx, tx, in.ID, plugin, req.GetGrantId()); err != nil {
			return err
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, req.GetActorId()); err != nil {
			return err
		}
		if actions != nil {
			g.Actions = actions
		}
		if req.GetSetExpiresAt() {
			g.ExpiresAt = expires
		}
		if err := tx.UpdateGrant(ctx, g); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, grantAudit(g, crm.AuditGrantUpdate, req.GetActorId(), h.s.clock()))
	})
	if err != nil {
		return nil, h.status(err)
	}
	h.s.invalidateRecords(ctx, in.ID, crm.Ref{Type: g.RecordType, ID: g.RecordID})
	return wireGrant(g), nil
}

func (h pluginHost) GrantGet(ctx context.Context, req *pluginv1.GrantGetRequest) (*pluginv1.Grant, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	var g crm.Grant
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err = pluginGrant(ctx, tx, in.ID, plugin, req.GetGrantId())
		return err
	})
	if err != nil {
		return nil, h.status(err)
	}
	return wireGrant(g), nil
}

func (h pluginHost) GrantRevoke(ctx context.Context, req *pluginv1.GrantRevokeRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if err := h.s.checkWritable(ctx); err != nil { // as every change of access: see checkWritable
		return nil, h.status(err)
	}
	var g crm.Grant
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if g, err = pluginGrant(ctx, tx, in.ID, plugin, req.GetGrantId()); err != nil {
			return err
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, req.GetActorId()); err != nil {
			return err
		}
		if err := tx.DeleteGrant(ctx, in.ID, g.ID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, grantAudit(g, crm.AuditGrantRevoke, req.GetActorId(), h.s.clock()))
	})
	if err != nil {
		return nil, h.status(err)
	}
	h.s.invalidateRecords(ctx, in.ID, crm.Ref{Type: g.RecordType, ID: g.RecordID})
	return &pluginv1.Empty{}, nil
}

func (h pluginHost) GrantList(ctx context.Context, req *pluginv1.GrantListRequest) (*pluginv1.GrantListResponse, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	size, after, err := pageRequest(int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, h.status(err)
	}
	gq := store.GrantQuery{InstallID: in.ID, Source: plugin, RecordID: req.GetRecordId(), SubjectType: req.GetSubjectType(),
		SubjectID: req.GetSubjectId(), State: req.GetState(), Now: h.s.clock(), After: after, Limit: size + 1}
	if t := req.GetRecordType(); t != "" {
		if gq.RecordType, err = crm.ParseRecordType(t); err != nil {
			return nil, h.status(err)
		}
	}
	switch gq.State {
	case "":
		gq.State = store.GrantsActive
	case store.GrantsActive, store.GrantsExpired, store.GrantsAll:
	default:
		return nil, h.status(crm.Invalid("invalid_state", `state: must be "active", "expired" or "all", got %q`, gq.State))
	}
	grants, err := h.s.db.ListGrants(ctx, gq)
	if err != nil {
		return nil, h.status(err)
	}
	grants, next := cutPage(grants, size, func(g crm.Grant) string { return g.ID })
	out := &pluginv1.GrantListResponse{NextCursor: next}
	for _, g := range grants {
		out.Grants = append(out.Grants, wireGrant(g))
	}
	return out, nil
}

func wireGrant(g crm.Grant) *pluginv1.Grant {
	out := &pluginv1.Grant{Id: g.ID, Record: &pluginv1.Ref{Type: string(g.RecordType), Id: g.RecordID},
		SubjectType: g.SubjectType, SubjectId: g.SubjectID, Source: g.Source, CreatedBy: g.CreatedBy, CreatedAtMs: g.CreatedAt.UnixMilli()}
	for _, a := range g.Actions {
		out.Actions = append(out.Actions, string(a))
	}
	if g.ExpiresAt != nil {
		out.ExpiresAtMs = g.ExpiresAt.UnixMilli()
	}
	return out
}

func refOf(ids ids, r *pluginv1.Ref, field string) (crm.Ref, error) {
	t, err := crm.ParseRecordType(r.GetType())
	if err != nil {
		return crm.Ref{}, crm.Invalid("invalid_record_type", "%s.type: %s", field, err.Error())
	}
	if err := ids.record(field+".id", t, r.GetId()); err != nil {
		return crm.Ref{}, err
	}
	return crm.Ref{Type: t, ID: r.GetId()}, nil
}

// scopeType is scope for a call about records of one type.
func (h pluginHost) scopeType(ctx context.Context, installID, recordType string) (crm.Install, crm.RecordType, error) {
	_, in, err := h.scope(ctx, installID)
	if err != nil {
		return crm.Install{}, "", err
	}
	t, err := crm.ParseRecordType(recordType)
	if err != nil {
		return crm.Install{}, "", h.status(err)
	}
	return in, t, nil
}

// asUser returns the principal of a user of the install a plugin reads as.
func (h pluginHost) asUser(ctx context.Context, in crm.Install, userID string) (crm.Principal, error) {
	if err := h.s.ids(in.ID).user("as_user_id", userID); err != nil {
		return crm.Principal{}, err
	}
	u, err := h.s.db.User(ctx, in.ID, userID)
	if err != nil {
		return crm.Principal{}, notFound(err, crm.Invalid("unknown_user", "as_user_id: no user %s in this install", userID), "user")
	}
	return h.s.PrincipalFor(ctx, in, u)
}

func (h pluginHost) RecordGet(ctx context.Context, req *pluginv1.RecordGetRequest) (*pluginv1.Record, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	ref, err := refOf(h.s.ids(in.ID), req.GetRecord(), "record")
	if err != nil {
		return nil, h.status(err)
	}
	var r crm.Record
	if req.GetAsUserId() != "" {
		p, err := h.asUser(ctx, in, req.GetAsUserId())
		if err != nil {
			return nil, h.status(err)
		}
		r, err = h.s.GetRecord(ctx, p, ref.Type, ref.ID)
		if err != nil {
			return nil, h.status(err)
		}
	} else if r, err = h.s.db.Record(ctx, in.ID, ref.Type, ref.ID, false); err != nil {
		return nil, h.status(notFound(err, crm.ErrRecordNotFound, "record"))
	}
	return sdk.WireRecord(sdkRecord(r)), nil
}

func (h pluginHost) RecordList(ctx context.Context, req *pluginv1.RecordListRequest) (*pluginv1.RecordListResponse, error) {
	in, t, err := h.scopeType(ctx, req.GetInstallId(), req.GetType())
	if err != nil {
		return nil, err
	}
	o := ListOptions{Owner: req.GetOwnerId(), Team: req.GetTeamId(), Limit: int(req.GetLimit()), Cursor: req.GetCursor()}
	if o.Owner == "me" {
		return nil, h.status(crm.Invalid("invalid_filter", `owner_id: a user id or "none"`))
	}
	var recs []crm.Record
	var next string
	if req.GetAsUserId() != "" {
		p, err := h.asUser(ctx, in, req.GetAsUserId())
		if err != nil {
			return nil, h.status(err)
		}
		recs, next, err = h.s.ListRecords(ctx, p, t, o)
		if err != nil {
			return nil, h.status(err)
		}
	} else {
		q, _, err := h.s.listQuery(crm.Principal{Install: in}, t, o)
		if err != nil {
			return nil, h.status(err)
		}
		if recs, next, err = h.s.page(ctx, q, o, false); err != nil {
			return nil, h.status(err)
		}
	}
	out := &pluginv1.RecordListResponse{NextCursor: next}
	for _, r := range recs {
		out.Records = append(out.Records, sdk.WireRecord(sdkRecord(r)))
	}
	return out, nil
}

// sdkRecord is a record as plugins see it.
func sdkRecord(r crm.Record) *sdk.Record {
	out := &sdk.Record{ID: r.ID, Type: r.Type, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID,
		Data: r.Data, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.Parent != nil {
		out.Parent = &sdk.Ref{Type: r.Parent.Type, ID: r.Parent.ID}
	}
	return out
}

func (h pluginHost) Check(ctx context.Context, req *pluginv1.CheckRequest) (*pluginv1.CheckResponse, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	checks := make([]CheckRequest, len(req.GetRecords()))
	for i, r := range req.GetRecords() {
		checks[i] = CheckRequest{UserID: req.GetUserId(), Action: sdk.Action(req.GetAction()), Type: sdk.RecordType(r.GetType()), ID: r.GetId()}
	}
	results, err := h.s.Check(ctx, crm.Principal{Install: in, Service: true}, checks, false)
	if err != nil {
		return nil, h.status(err)
	}
	out := &pluginv1.CheckResponse{}
	for _, r := range results {
		out.Allowed = append(out.Allowed, r.Allowed)
	}
	return out, nil
}

func (h pluginHost) UserGet(ctx context.Context, req *pluginv1.UserGetRequest) (*pluginv1.HostUser, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if err := h.s.ids(in.ID).user("user_id", req.GetUserId()); err != nil {
		return nil, h.status(err)
	}
	u, err := h.s.db.User(ctx, in.ID, req.GetUserId())
	if err != nil {
		return nil, h.status(notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in this install", req.GetUserId()), "user"))
	}
	teams, err := h.s.db.UserTeams(ctx, in.ID, u.ID)
	if err != nil {
		return nil, h.status(err)
	}
	return hostUser(u, teams), nil
}

func hostUser(u crm.User, teams []crm.Membership) *pluginv1.HostUser {
	out := &pluginv1.HostUser{Id: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, ManagerId: u.ManagerID}
	for _, m := range teams {
		if m.UserID == u.ID {
			out.Teams = append(out.Teams, m.TeamID)
		}
	}
	return out
}

func (h pluginHost) UserList(ctx context.Context, req *pluginv1.UserListRequest) (*pluginv1.UserListResponse, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	size, after, err := pageRequest(int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, h.status(err)
	}
	users, err := h.s.db.ListUsers(ctx, in.ID, after, size+1)
	if err != nil {
		return nil, h.status(err)
	}
	users, next := cutPage(users, size, func(u crm.User) string { return u.ID })
	teams, err := h.s.db.InstallMemberships(ctx, in.ID)
	if err != nil {
		return nil, h.status(err)
	}
	out := &pluginv1.UserListResponse{NextCursor: next}
	for _, u := range users {
		out.Users = append(out.Users, hostUser(u, teams))
	}
	return out, nil
}

func (h pluginHost) TeamList(ctx context.Context, req *pluginv1.TeamListRequest) (*pluginv1.TeamListResponse, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	teams, err := h.s.db.ListTeams(ctx, in.ID)
	if err != nil {
		return nil, h.status(err)
	}
	members, err := h.s.db.InstallMemberships(ctx, in.ID)
	if err != nil {
		return nil, h.status(err)
	}
	out := &pluginv1.TeamListResponse{}
	for _, t := range teams {
		wt := &pluginv1.Team{Id: t.ID, Name: t.Name}
		for _, m := range members {
			if m.TeamID == t.ID {
				wt.Members = append(wt.Members, &pluginv1.TeamMember{UserId: m.UserID, Primary: m.Primary})
			}
		}
		out.Teams = append(out.Teams, wt)
	}
	return out, nil
}

func (h pluginHost) RoleList(ctx context.Context, req *pluginv1.RoleListRequest) (*pluginv1.RoleListResponse, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	roles, err := h.s.db.ListRoles(ctx, in.ID)
	if err != nil {
		return nil, h.status(err)
	}
	out := &pluginv1.RoleListResponse{}
	for _, r := range roles {
		wr := &pluginv1.Role{Name: r.Name, Description: r.Description, BuiltIn: r.BuiltIn}
		for _, c := range r.Capabilities {
			wr.Capabilities = append(wr.Capabilities, string(c))
		}
		out.Roles = append(out.Roles, wr)
	}
	return out, nil
}

var auditAction = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*$`)

func (h pluginHost) AuditAppend(ctx context.Context, req *pluginv1.AuditAppendRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	action := plugin + "." + req.GetAction()
	if !auditAction.MatchString(req.GetAction()) || len(action) > 64 {
		return nil, h.status(crm.Invalid("invalid_action", "action: snake_case words joined by dots, at most %d characters", 63-len(plugin)))
	}
	detail := map[string]any{}
	if raw := req.GetDetailJson(); len(raw) > 0 {
		if len(raw) > maxAuditDetail {
			return nil, h.status(crm.Invalid("invalid_detail", "detail: at most %d bytes", maxAuditDetail))
		}
		var err error
		if detail, err = decodeObject(raw); err != nil {
			return nil, h.status(crm.Invalid("invalid_detail", "detail: must be a JSON object"))
		}
	}
	detail["plugin"] = plugin
	e := crm.AuditEvent{ID: crm.NewID(), InstallID: in.ID, At: h.s.clock(), ActorID: req.GetActorId(), Action: action, Detail: detail}
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if req.GetRecord() != nil {
			ref, err := refOf(h.s.ids(in.ID), req.GetRecord(), "record")
			if err != nil {
				return err
			}
			// The log outlives records: a record deleted since may still be
			// written about, so only the reference's form is checked.
			e.RecordType, e.RecordID = ref.Type, ref.ID
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, e.ActorID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, e)
	})
	return &pluginv1.Empty{}, h.status(err)
}

func (h pluginHost) Notify(ctx context.Context, req *pluginv1.NotifyRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	return &pluginv1.Empty{}, h.status(h.s.notify(ctx, in, plugin, req.GetUserIds(), req.GetSubject(), req.GetBody()))
}

func (h pluginHost) Invalidate(ctx context.Context, req *pluginv1.InvalidateRequest) (*pluginv1.Empty, error) {
	_, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	gen := cache.InstallGen(in.ID)
	if u := req.GetUserId(); u != "" {
		if err := h.s.ids(in.ID).user("user_id", u); err != nil {
			return nil, h.status(err)
		}
		if _, err := h.s.db.User(ctx, in.ID, u); err != nil {
			return nil, h.status(notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in this install", u), "user"))
		}
		gen = cache.UserGen(in.ID, u)
	}
	if err := h.s.checkWritable(ctx); err != nil {
		return nil, h.status(err)
	}
	if err := h.s.cache.Invalidate(ctx, in.ID, []string{gen}, nil); err != nil {
		h.s.log.Warn("plugin invalidation failed", "err", err)
		return nil, h.status(errCacheUnavailable)
	}
	return &pluginv1.Empty{}, nil
}

func (h pluginHost) RecordCount(ctx context.Context, req *pluginv1.RecordCountRequest) (*pluginv1.RecordCountResponse, error) {
	in, t, err := h.scopeType(ctx, req.GetInstallId(), req.GetType())
	if err != nil {
		return nil, err
	}
	o := ListOptions{Owner: req.GetOwnerId(), Team: req.GetTeamId()}
	if o.Owner == "me" {
		return nil, h.status(crm.Invalid("invalid_filter", `owner_id: a user id or "none"`))
	}
	var counts map[string]int64
	if req.GetAsUserId() != "" {
		p, err := h.asUser(ctx, in, req.GetAsUserId())
		if err != nil {
			return nil, h.status(err)
		}
		if counts, err = h.s.CountRecordsByTeam(ctx, p, t, o); err != nil {
			return nil, h.status(err)
		}
	} else {
		q, _, err := h.s.listQuery(crm.Principal{Install: in}, t, o)
		if err != nil {
			return nil, h.status(err)
		}
		if counts, err = h.s.db.CountRecordsByTeam(ctx, q); err != nil {
			return nil, h.status(err)
		}
	}
	out := &pluginv1.RecordCountResponse{ByTeam: counts}
	for _, n := range counts {
		out.Count += n
	}
	return out, nil
}

func (h pluginHost) RecordsMoveTeam(ctx context.Context, req *pluginv1.RecordsMoveTeamRequest) (*pluginv1.RecordsMoveTeamResponse, error) {
	in, t, err := h.scopeType(ctx, req.GetInstallId(), req.GetType())
	if err != nil {
		return nil, err
	}
	p, err := h.asUser(ctx, in, req.GetActorId())
	if err != nil {
		return nil, h.status(err)
	}
	n, err := h.s.MoveTeams(ctx, p, t, TeamMove{IDs: req.GetIds(), From: req.GetFromTeamId(), To: req.GetToTeamId()})
	if err != nil {
		return nil, h.status(err)
	}
	return &pluginv1.RecordsMoveTeamResponse{Moved: int64(n)}, nil
}
