package plugins

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

type callingPluginKey struct{}

// CallingPlugin returns the id of the plugin whose call to the host API
// ctx belongs to.
func CallingPlugin(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(callingPluginKey{}).(string)
	return id, ok
}

// WithCallingPlugin returns a context of a call from plugin id, as the
// runtime makes them; for tests of a host API.
func WithCallingPlugin(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callingPluginKey{}, id)
}

// serveHost serves the host API to one plugin on a new broker id. The
// plugin is named in every call's context once its manifest is read;
// before, the API is closed.
func serveHost(client interface {
	NextId() uint32
	AcceptAndServe(uint32, func([]grpc.ServerOption) *grpc.Server)
}, api pluginv1.HostServer, pluginID *atomic.Pointer[string]) uint32 {
	scope := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := pluginID.Load()
		if id == nil {
			return nil, status.Error(codes.FailedPrecondition, "the host API is open once the manifest is read")
		}
		return handler(WithCallingPlugin(ctx, *id), req)
	}
	id := client.NextId()
	go client.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(scope))...)
		pluginv1.RegisterHostServer(s, api)
		return s
	})
	return id
}
