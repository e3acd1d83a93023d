package service

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/store"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

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
	err = h.s.db.InRetryableTx(ctx, func(tx *store.Tx) error {
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
