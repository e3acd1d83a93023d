package service

import (
	"context"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

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
