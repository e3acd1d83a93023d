package sdk

import (
	"context"
	"time"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// grpcHost is the host API over the broker connection.
type grpcHost struct{ c pluginv1.HostClient }

func (h grpcHost) KVGet(ctx context.Context, installID, key string) (KVValue, bool, error) {
	resp, err := h.c.KVGet(ctx, &pluginv1.KVGetRequest{InstallId: installID, Key: key})
	if err != nil {
		return KVValue{}, false, hostError(err)
	}
	return KVValue{Value: resp.GetValue(), Version: resp.GetVersion()}, resp.GetFound(), nil
}

func (h grpcHost) KVSet(ctx context.Context, installID, key string, value []byte, opts KVSetOptions) (int64, bool, error) {
	req := &pluginv1.KVSetRequest{InstallId: installID, Key: key, Value: value, TtlMs: opts.TTL.Milliseconds()}
	if opts.IfVersion != nil {
		req.CheckVersion, req.IfVersion = true, *opts.IfVersion
	}
	resp, err := h.c.KVSet(ctx, req)
	if err != nil {
		return 0, false, hostError(err)
	}
	return resp.GetVersion(), resp.GetStored(), nil
}

func (h grpcHost) KVDelete(ctx context.Context, installID, key string) error {
	_, err := h.c.KVDelete(ctx, &pluginv1.KVDeleteRequest{InstallId: installID, Key: key})
	return hostError(err)
}

func (h grpcHost) CreateGrant(ctx context.Context, installID string, g NewGrant) (Grant, error) {
	resp, err := h.c.GrantCreate(ctx, &pluginv1.GrantCreateRequest{
		InstallId: installID, Record: wireRef(g.Record), SubjectType: g.SubjectType, SubjectId: g.SubjectID,
		Actions: actionNames(g.Actions), ExpiresAtMs: millisOf(g.ExpiresAt), ActorId: g.ActorID,
	})
	if err != nil {
		return Grant{}, hostError(err)
	}
	return GrantOf(resp), nil
}

func (h grpcHost) UpdateGrant(ctx context.Context, installID, grantID string, c GrantChange) (Grant, error) {
	resp, err := h.c.GrantUpdate(ctx, &pluginv1.GrantUpdateRequest{
		InstallId: installID, GrantId: grantID, Actions: actionNames(c.Actions),
		SetExpiresAt: c.SetExpiry, ExpiresAtMs: millisOf(c.ExpiresAt), ActorId: c.ActorID,
	})
	if err != nil {
		return Grant{}, hostError(err)
	}
	return GrantOf(resp), nil
}

func (h grpcHost) RevokeGrant(ctx context.Context, installID, grantID, actorID string) error {
	_, err := h.c.GrantRevoke(ctx, &pluginv1.GrantRevokeRequest{InstallId: installID, GrantId: grantID, ActorId: actorID})
	return hostError(err)
}

func (h grpcHost) Grant(ctx context.Context, installID, grantID string) (Grant, error) {
	g, err := h.c.GrantGet(ctx, &pluginv1.GrantGetRequest{InstallId: installID, GrantId: grantID})
	if err != nil {
		return Grant{}, hostError(err)
	}
	return GrantOf(g), nil
}

func (h grpcHost) ListGrants(ctx context.Context, installID string, q GrantQuery) ([]Grant, string, error) {
	resp, err := h.c.GrantList(ctx, &pluginv1.GrantListRequest{
		InstallId: installID, RecordType: string(q.RecordType), RecordId: q.RecordID, SubjectType: q.SubjectType,
		SubjectId: q.SubjectID, State: q.State, Cursor: q.Cursor, Limit: int32(q.Limit),
	})
	if err != nil {
		return nil, "", hostError(err)
	}
	out := make([]Grant, len(resp.GetGrants()))
	for i, g := range resp.GetGrants() {
		out[i] = GrantOf(g)
	}
	return out, resp.GetNextCursor(), nil
}

func (h grpcHost) Record(ctx context.Context, installID string, ref Ref, asUserID string) (Record, error) {
	resp, err := h.c.RecordGet(ctx, &pluginv1.RecordGetRequest{InstallId: installID, Record: wireRef(ref), AsUserId: asUserID})
	if err != nil {
		return Record{}, hostError(err)
	}
	return *RecordOf(resp), nil
}

func (h grpcHost) Records(ctx context.Context, installID string, q RecordQuery) ([]Record, string, error) {
	resp, err := h.c.RecordList(ctx, &pluginv1.RecordListRequest{
		InstallId: installID, Type: string(q.Type), OwnerId: q.OwnerID, TeamId: q.TeamID, AsUserId: q.AsUserID,
		Cursor: q.Cursor, Limit: int32(q.Limit),
	})
	if err != nil {
		return nil, "", hostError(err)
	}
	out := make([]Record, len(resp.GetRecords()))
	for i, r := range resp.GetRecords() {
		out[i] = *RecordOf(r)
	}
	return out, resp.GetNextCursor(), nil
}

func (h grpcHost) CountRecords(ctx context.Context, installID string, q RecordQuery) (RecordCount, error) {
	resp, err := h.c.RecordCount(ctx, &pluginv1.RecordCountRequest{
		InstallId: installID, Type: string(q.Type), OwnerId: q.OwnerID, TeamId: q.TeamID, AsUserId: q.AsUserID,
	})
	if err != nil {
		return RecordCount{}, hostError(err)
	}
	byTeam := resp.GetByTeam()
	if byTeam == nil {
		byTeam = map[string]int64{}
	}
	return RecordCount{Total: resp.GetCount(), ByTeam: byTeam}, nil
}

func (h grpcHost) MoveRecordsTeam(ctx context.Context, installID string, m TeamMove) (int, error) {
	resp, err := h.c.RecordsMoveTeam(ctx, &pluginv1.RecordsMoveTeamRequest{
		InstallId: installID, Type: string(m.Type), Ids: m.IDs, FromTeamId: m.FromTeamID, ToTeamId: m.ToTeamID, ActorId: m.ActorID,
	})
	if err != nil {
		return 0, hostError(err)
	}
	return int(resp.GetMoved()), nil
}

func (h grpcHost) Check(ctx context.Context, installID, userID string, action Action, refs ...Ref) ([]bool, error) {
	req := &pluginv1.CheckRequest{InstallId: installID, UserId: userID, Action: string(action)}
	for _, r := range refs {
		req.Records = append(req.Records, wireRef(r))
	}
	resp, err := h.c.Check(ctx, req)
	if err != nil {
		return nil, hostError(err)
	}
	return resp.GetAllowed(), nil
}

func (h grpcHost) User(ctx context.Context, installID, userID string) (UserInfo, error) {
	resp, err := h.c.UserGet(ctx, &pluginv1.UserGetRequest{InstallId: installID, UserId: userID})
	if err != nil {
		return UserInfo{}, hostError(err)
	}
	return userInfoOf(resp), nil
}

func (h grpcHost) Users(ctx context.Context, installID, cursor string, limit int) ([]UserInfo, string, error) {
	resp, err := h.c.UserList(ctx, &pluginv1.UserListRequest{InstallId: installID, Cursor: cursor, Limit: int32(limit)})
	if err != nil {
		return nil, "", hostError(err)
	}
	out := make([]UserInfo, len(resp.GetUsers()))
	for i, u := range resp.GetUsers() {
		out[i] = userInfoOf(u)
	}
	return out, resp.GetNextCursor(), nil
}

func (h grpcHost) Teams(ctx context.Context, installID string) ([]Team, error) {
	resp, err := h.c.TeamList(ctx, &pluginv1.TeamListRequest{InstallId: installID})
	if err != nil {
		return nil, hostError(err)
	}
	out := make([]Team, len(resp.GetTeams()))
	for i, t := range resp.GetTeams() {
		out[i] = Team{ID: t.GetId(), Name: t.GetName()}
		for _, m := range t.GetMembers() {
			out[i].Members = append(out[i].Members, TeamMember{UserID: m.GetUserId(), Primary: m.GetPrimary()})
		}
	}
	return out, nil
}

func (h grpcHost) Roles(ctx context.Context, installID string) ([]Role, error) {
	resp, err := h.c.RoleList(ctx, &pluginv1.RoleListRequest{InstallId: installID})
	if err != nil {
		return nil, hostError(err)
	}
	out := make([]Role, len(resp.GetRoles()))
	for i, r := range resp.GetRoles() {
		out[i] = Role{Name: r.GetName(), Description: r.GetDescription(), Capabilities: r.GetCapabilities(), BuiltIn: r.GetBuiltIn()}
	}
	return out, nil
}

func (h grpcHost) Audit(ctx context.Context, installID string, e AuditEntry) error {
	req := &pluginv1.AuditAppendRequest{InstallId: installID, Action: e.Action, ActorId: e.ActorID, DetailJson: jsonOf(e.Detail)}
	if e.Record != nil {
		req.Record = wireRef(*e.Record)
	}
	_, err := h.c.AuditAppend(ctx, req)
	return hostError(err)
}

func (h grpcHost) Notify(ctx context.Context, installID string, n Notification) error {
	_, err := h.c.Notify(ctx, &pluginv1.NotifyRequest{InstallId: installID, UserIds: n.UserIDs, Subject: n.Subject, Body: n.Body})
	return hostError(err)
}

func (h grpcHost) Invalidate(ctx context.Context, installID, userID string) error {
	_, err := h.c.Invalidate(ctx, &pluginv1.InvalidateRequest{InstallId: installID, UserId: userID})
	return hostError(err)
}

// GrantOf turns a wire grant into a Grant.
func GrantOf(g *pluginv1.Grant) Grant {
	out := Grant{
		ID: g.GetId(), Record: Ref{Type: RecordType(g.GetRecord().GetType()), ID: g.GetRecord().GetId()},
		SubjectType: g.GetSubjectType(), SubjectID: g.GetSubjectId(), Source: g.GetSource(), CreatedBy: g.GetCreatedBy(),
		CreatedAt: time.UnixMilli(g.GetCreatedAtMs()),
	}
	for _, a := range g.GetActions() {
		out.Actions = append(out.Actions, Action(a))
	}
	if ms := g.GetExpiresAtMs(); ms != 0 {
		t := time.UnixMilli(ms)
		out.ExpiresAt = &t
	}
	return out
}

func userInfoOf(u *pluginv1.HostUser) UserInfo {
	return UserInfo{ID: u.GetId(), Email: u.GetEmail(), Name: u.GetName(), Role: u.GetRole(), ManagerID: u.GetManagerId(), Teams: u.GetTeams()}
}

func wireRef(r Ref) *pluginv1.Ref { return &pluginv1.Ref{Type: string(r.Type), Id: r.ID} }

func actionNames(actions []Action) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}

func millisOf(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}

// noHost is the Host of a plugin that runs without one.
type noHost struct{}

func (noHost) KVGet(context.Context, string, string) (KVValue, bool, error) {
	return KVValue{}, false, ErrNoHost
}
func (noHost) KVSet(context.Context, string, string, []byte, KVSetOptions) (int64, bool, error) {
	return 0, false, ErrNoHost
}
func (noHost) KVDelete(context.Context, string, string) error { return ErrNoHost }
func (noHost) CreateGrant(context.Context, string, NewGrant) (Grant, error) {
	return Grant{}, ErrNoHost
}
func (noHost) UpdateGrant(context.Context, string, string, GrantChange) (Grant, error) {
	return Grant{}, ErrNoHost
}
func (noHost) RevokeGrant(context.Context, string, string, string) error { return ErrNoHost }
func (noHost) ListGrants(context.Context, string, GrantQuery) ([]Grant, string, error) {
	return nil, "", ErrNoHost
}
func (noHost) Grant(context.Context, string, string) (Grant, error) { return Grant{}, ErrNoHost }
func (noHost) Record(context.Context, string, Ref, string) (Record, error) {
	return Record{}, ErrNoHost
}
func (noHost) Records(context.Context, string, RecordQuery) ([]Record, string, error) {
	return nil, "", ErrNoHost
}
func (noHost) CountRecords(context.Context, string, RecordQuery) (RecordCount, error) {
	return RecordCount{}, ErrNoHost
}
func (noHost) MoveRecordsTeam(context.Context, string, TeamMove) (int, error) { return 0, ErrNoHost }
func (noHost) Check(context.Context, string, string, Action, ...Ref) ([]bool, error) {
	return nil, ErrNoHost
}
func (noHost) User(context.Context, string, string) (UserInfo, error) { return UserInfo{}, ErrNoHost }
func (noHost) Users(context.Context, string, string, int) ([]UserInfo, string, error) {
	return nil, "", ErrNoHost
}
func (noHost) Teams(context.Context, string) ([]Team, error)      { return nil, ErrNoHost }
func (noHost) Roles(context.Context, string) ([]Role, error)      { return nil, ErrNoHost }
func (noHost) Audit(context.Context, string, AuditEntry) error    { return ErrNoHost }
func (noHost) Notify(context.Context, string, Notification) error { return ErrNoHost }
func (noHost) Invalidate(context.Context, string, string) error   { return ErrNoHost }
