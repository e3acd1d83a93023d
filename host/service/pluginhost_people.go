package service

import (
	"context"

	"github.com/crmguard/crmguard/host/crm"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

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
