package sdk

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// Host is what the host offers a plugin: a key-value store of the
// plugin's own per install, with compare-and-set and expiry. Everything is
// scoped to the calling plugin. Reach it with HostAPI from the context of
// any hook or route.
type Host interface {
	KVGet(ctx context.Context, installID, key string) (KVValue, bool, error)
	KVSet(ctx context.Context, installID, key string, value []byte, opts KVSetOptions) (version int64, stored bool, err error)
	KVDelete(ctx context.Context, installID, key string) error
}

// KVValue is a stored value and its version, for compare-and-set.
type KVValue struct {
	Value   []byte
	Version int64
}

// KVSetOptions refine KVSet. With IfVersion, the value is written only if
// the key's version is *IfVersion (0: only if the key does not exist);
// otherwise KVSet reports stored=false and changes nothing. With TTL, the
// key expires after it.
type KVSetOptions struct {
	IfVersion *int64
	TTL       time.Duration
}

// ErrNoHost is returned by the Host of a plugin that runs without one.
var ErrNoHost = errors.New("sdk: no host API here")

type hostKey struct{}

// HostAPI returns the host API from the context of a hook or route.
func HostAPI(ctx context.Context) Host {
	if h, ok := ctx.Value(hostKey{}).(Host); ok {
		return h
	}
	return noHost{}
}

// WithHost returns a context that carries h, as the host's calls do; for
// tests and harnesses.
func WithHost(ctx context.Context, h Host) context.Context {
	return context.WithValue(ctx, hostKey{}, h)
}

type noHost struct{}

func (noHost) KVGet(context.Context, string, string) (KVValue, bool, error) {
	return KVValue{}, false, ErrNoHost
}
func (noHost) KVSet(context.Context, string, string, []byte, KVSetOptions) (int64, bool, error) {
	return 0, false, ErrNoHost
}
func (noHost) KVDelete(context.Context, string, string) error { return ErrNoHost }

// grpcHost is the host API over the broker connection.
type grpcHost struct{ c pluginv1.HostClient }

func (h grpcHost) KVGet(ctx context.Context, installID, key string) (KVValue, bool, error) {
	resp, err := h.c.KVGet(ctx, &pluginv1.KVGetRequest{InstallId: installID, Key: key})
	if err != nil {
		return KVValue{}, false, err
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
		return 0, false, err
	}
	return resp.GetVersion(), resp.GetStored(), nil
}

func (h grpcHost) KVDelete(ctx context.Context, installID, key string) error {
	_, err := h.c.KVDelete(ctx, &pluginv1.KVDeleteRequest{InstallId: installID, Key: key})
	return err
}

// UseBroker keeps the broker through which the host's API is dialled.
func (s *server) UseBroker(b *plugin.GRPCBroker) { s.broker = b }

// connect dials the host's API once, when the host names it.
func (s *server) connect(brokerID uint32) {
	if brokerID == 0 || s.broker == nil {
		return
	}
	s.dial.Do(func() {
		conn, err := s.broker.Dial(brokerID)
		if err != nil {
			return
		}
		var h Host = grpcHost{c: pluginv1.NewHostClient(conn)}
		s.host.Store(&h)
	})
}
