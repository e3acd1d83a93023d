package plugins

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/store"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// hostAPI is the Host service one plugin talks to: everything it does is
// scoped to that plugin, known once its manifest is read.
type hostAPI struct {
	pluginv1.UnimplementedHostServer
	db       *store.DB
	pluginID atomic.Pointer[string]
}

// serveHost serves the Host service to a plugin on a new broker id.
func serveHost(client interface {
	NextId() uint32
	AcceptAndServe(uint32, func([]grpc.ServerOption) *grpc.Server)
}, api *hostAPI) uint32 {
	id := client.NextId()
	go client.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pluginv1.RegisterHostServer(s, api)
		return s
	})
	return id
}

func (h *hostAPI) plugin() (string, error) {
	if h.db == nil {
		return "", status.Error(codes.Unavailable, "this host keeps no data for plugins")
	}
	id := h.pluginID.Load()
	if id == nil {
		return "", status.Error(codes.FailedPrecondition, "the host API is open once the manifest is read")
	}
	return *id, nil
}

func (h *hostAPI) KVGet(ctx context.Context, req *pluginv1.KVGetRequest) (*pluginv1.KVGetResponse, error) {
	plugin, err := h.plugin()
	if err != nil {
		return nil, err
	}
	e, found, err := h.db.KVGet(ctx, plugin, req.GetInstallId(), req.GetKey(), time.Now())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.KVGetResponse{Found: found, Value: e.Value, Version: e.Version}, nil
}

func (h *hostAPI) KVSet(ctx context.Context, req *pluginv1.KVSetRequest) (*pluginv1.KVSetResponse, error) {
	plugin, err := h.plugin()
	if err != nil {
		return nil, err
	}
	if req.GetKey() == "" || len(req.GetKey()) > 255 {
		return nil, status.Error(codes.InvalidArgument, "key: 1 to 255 bytes")
	}
	var ifVersion *int64
	if req.GetCheckVersion() {
		v := req.GetIfVersion()
		ifVersion = &v
	}
	now := time.Now()
	var expires *time.Time
	if ttl := req.GetTtlMs(); ttl > 0 {
		at := now.Add(time.Duration(ttl) * time.Millisecond)
		expires = &at
	}
	var version int64
	var stored bool
	err = h.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		version, stored, err = tx.KVSet(ctx, plugin, req.GetInstallId(), req.GetKey(), req.GetValue(), ifVersion, expires, now)
		return err
	})
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.KVSetResponse{Stored: stored, Version: version}, nil
}

func (h *hostAPI) KVDelete(ctx context.Context, req *pluginv1.KVDeleteRequest) (*pluginv1.Empty, error) {
	plugin, err := h.plugin()
	if err != nil {
		return nil, err
	}
	if err := h.db.KVDelete(ctx, plugin, req.GetInstallId(), req.GetKey()); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.Empty{}, nil
}
