package service

import (
	"context"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

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
