package service

import (
	"context"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

func (h pluginHost) Notify(ctx context.Context, req *pluginv1.NotifyRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	return &pluginv1.Empty{}, h.status(h.s.notify(ctx, in, plugin, req.GetUserIds(), req.GetSubject(), req.GetBody()))
}
