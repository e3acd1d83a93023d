// Package wire is what the crmguard host and its plugins share to talk
// over hashicorp/go-plugin: the handshake, the protocol versions and the
// gRPC glue. Plugin authors do not use it; sdk.Serve does.
package wire

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// Handshake keeps the host from starting programs that are not crmguard
// plugins, and plugins from being run by hand.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "CRMGUARD_PLUGIN",
	MagicCookieValue: "a9f4c1e2-crmguard-plugin",
}

// Name is the one plugin a crmguard plugin binary serves.
const Name = "crmguard"

// ProtocolVersion is the protocol this package speaks; hosts also accept
// the ones before it that they list in Versions.
const ProtocolVersion = 1

// V1 adapts a pluginv1 Plugin service to go-plugin: the server side in a
// plugin, the client side in the host.
type V1 struct {
	plugin.NetRPCUnsupportedPlugin
	Impl pluginv1.PluginServer // set in plugins
}

// BrokerUser is a plugin server that dials the host's services through
// the go-plugin broker.
type BrokerUser interface {
	UseBroker(*plugin.GRPCBroker)
}

// GRPCServer registers the plugin's service.
func (p *V1) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("wire: no plugin server")
	}
	if u, ok := p.Impl.(BrokerUser); ok {
		u.UseBroker(broker)
	}
	pluginv1.RegisterPluginServer(s, p.Impl)
	return nil
}

// Client is the host's side of one plugin: its service, and the broker on
// which the host serves its own to the plugin.
type Client struct {
	pluginv1.PluginClient
	Broker *plugin.GRPCBroker
}

// GRPCClient returns the host's client of the plugin's service.
func (p *V1) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return Client{PluginClient: pluginv1.NewPluginClient(c), Broker: broker}, nil
}

// Versions maps each protocol version the host speaks to its plugin set.
func Versions() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{1: {Name: &V1{}}}
}

// Serve runs a plugin's service until the host stops it, or dies: a plugin
// whose host is gone exits within a second, however the host ended.
func Serve(server pluginv1.PluginServer) {
	go exitWithParent(os.Getppid())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {Name: &V1{Impl: server}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// exitWithParent ends the process once its parent is gone (the process is
// then adopted by another, and its parent id changes).
func exitWithParent(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}
