package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// Serve runs p as a crmguard plugin until the host stops it. Call it from
// main; the binary then belongs in the host's plugin directory.
func Serve(p Plugin) {
	wire.Serve(Server(p))
}

// Server is p as the protocol's service: what Serve runs, and what test
// harnesses call in-process.
func Server(p Plugin) pluginv1.PluginServer { return ServerWithHost(p, nil) }

// ServerWithHost is Server with a host API of the caller's (a fake, in
// tests); nil means the host's, dialled when the host names it.
func ServerWithHost(p Plugin, h Host) pluginv1.PluginServer {
	// The log is the process's stderr as it is now, before go-plugin
	// replaces os.Stderr: the host reads this one, line by line.
	s := &server{p: p, log: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Info})}
	s.id = sync.OnceValue(func() (id string) {
		defer func() {
			if recover() != nil { // the Manifest call reports it
				id = ""
			}
		}()
		return p.Manifest().ID
	})
	if h != nil {
		s.host.Store(&h)
	}
	if r, ok := p.(Router); ok {
		s.routes = r.Routes()
	}
	return s
}

type server struct {
	pluginv1.UnimplementedPluginServer
	p      Plugin
	routes http.Handler // nil without routes
	id     func() string
	// log reaches the host's log as hclog JSON lines: the level and the
	// fields survive, where a plain line would be kept at debug level.
	log hclog.Logger

	broker *plugin.GRPCBroker
	dial   sync.Once
	host   atomic.Pointer[Host] // nil until dialled
}

// hooked is the context of a hook call: with the host API.
func (s *server) hooked(ctx context.Context) context.Context {
	h := s.host.Load()
	if h == nil {
		return ctx
	}
	return WithHost(ctx, *h)
}

func (s *server) Manifest(_ context.Context, req *pluginv1.ManifestRequest) (_ *pluginv1.ManifestResponse, err error) {
	defer s.recovered("manifest", &err)
	s.connect(req.GetHostBrokerId())
	m := s.p.Manifest()
	return &pluginv1.ManifestResponse{
		Id: m.ID, Name: m.Name, Version: m.Version, Description: m.Description, Priority: int32(m.Priority),
		SettingsSchemaJson: m.SettingsSchema, DefaultSettingsJson: m.DefaultSettings, Hooks: Hooks(s.p),
	}, nil
}

func (s *server) Activate(ctx context.Context, req *pluginv1.InstallRequest) (_ *pluginv1.Empty, err error) {
	defer s.recovered("activate", &err)
	ctx = s.hooked(ctx)
	a, ok := s.p.(Activator)
	if !ok {
		return &pluginv1.Empty{}, nil
	}
	return &pluginv1.Empty{}, hookError(a.Activate(ctx, installOf(req.GetInstall()), req.GetSettingsJson()))
}

func (s *server) Deactivate(ctx context.Context, req *pluginv1.InstallRequest) (_ *pluginv1.Empty, err error) {
	defer s.recovered("deactivate", &err)
	ctx = s.hooked(ctx)
	a, ok := s.p.(Activator)
	if !ok {
		return &pluginv1.Empty{}, nil
	}
	return &pluginv1.Empty{}, hookError(a.Deactivate(ctx, installOf(req.GetInstall()), req.GetSettingsJson()))
}

func (s *server) ValidateSettings(ctx context.Context, req *pluginv1.SettingsRequest) (_ *pluginv1.ValidateSettingsResponse, err error) {
	defer s.recovered("settings", &err)
	ctx = s.hooked(ctx)
	v, ok := s.p.(SettingsValidator)
	if !ok {
		return &pluginv1.ValidateSettingsResponse{}, nil
	}
	if err := v.ValidateSettings(ctx, installOf(req.GetInstall()), req.GetSettingsJson()); err != nil {
		return &pluginv1.ValidateSettingsResponse{Problem: err.Error()}, nil
	}
	return &pluginv1.ValidateSettingsResponse{}, nil
}

func (s *server) Policy(ctx context.Context, req *pluginv1.PolicyRequest) (_ *pluginv1.PolicyResponse, err error) {
	defer s.recovered("policy", &err)
	ctx = s.hooked(ctx)
	f, ok := s.p.(PolicyFilter)
	if !ok {
		return &pluginv1.PolicyResponse{PolicyJson: req.GetPolicyJson()}, nil
	}
	var in PolicyRequest
	if err := json.Unmarshal(req.GetPolicyJson(), &in.Policy); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "policy: %v", err)
	}
	in.Install, in.Settings = installOf(req.GetInstall()), req.GetSettingsJson()
	in.User = userOf(req.GetUser())
	out, err := f.Policy(ctx, in)
	if err != nil {
		return nil, hookError(err)
	}
	if err := out.Validate(); err != nil {
		return nil, status.Errorf(codes.Internal, "the plugin returned an invalid policy: %v", err)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "policy: %v", err)
	}
	return &pluginv1.PolicyResponse{PolicyJson: raw}, nil
}

func (s *server) BeforeWrite(ctx context.Context, req *pluginv1.WriteRequest) (_ *pluginv1.BeforeWriteResponse, err error) {
	defer s.recovered("before_write", &err)
	ctx = s.hooked(ctx)
	b, ok := s.p.(BeforeWriter)
	if !ok {
		return &pluginv1.BeforeWriteResponse{}, nil
	}
	change, err := b.BeforeWrite(ctx, Write{
		Install: installOf(req.GetInstall()), User: userOf(req.GetUser()), Settings: req.GetSettingsJson(),
		Operation: req.GetOperation(), Before: RecordOf(req.GetBefore()), After: RecordOf(req.GetAfter()),
	})
	var d *Denial
	if errors.As(err, &d) {
		return &pluginv1.BeforeWriteResponse{DenyCode: d.Code, DenyMessage: d.Message}, nil
	}
	if err != nil {
		return nil, hookError(err)
	}
	out := &pluginv1.BeforeWriteResponse{}
	if change.OwnerID != nil {
		out.SetOwner, out.OwnerId = true, *change.OwnerID
	}
	if change.TeamID != nil {
		out.SetTeam, out.TeamId = true, *change.TeamID
	}
	return out, nil
}

func (s *server) AfterWrite(ctx context.Context, req *pluginv1.WriteEvent) (_ *pluginv1.Empty, err error) {
	defer s.recovered("after_write", &err)
	ctx = s.hooked(ctx)
	a, ok := s.p.(AfterWriter)
	if !ok {
		return &pluginv1.Empty{}, nil
	}
	return &pluginv1.Empty{}, hookError(a.AfterWrite(ctx, WriteEvent{
		ID: req.GetEventId(), Install: installOf(req.GetInstall()), User: userOf(req.GetUser()), Settings: req.GetSettingsJson(),
		Operation: req.GetOperation(), Before: RecordOf(req.GetBefore()), After: RecordOf(req.GetAfter()), At: time.UnixMilli(req.GetAtMs()),
	}))
}

func userOf(u *pluginv1.User) User {
	return User{ID: u.GetId(), Email: u.GetEmail(), Name: u.GetName(), Role: u.GetRole(), Teams: u.GetTeams(), Managers: u.GetManagers(), Reports: u.GetReports(),
		RolePeers: u.GetRolePeers()}
}

func installOf(in *pluginv1.Install) Install {
	return Install{ID: in.GetId(), Slug: in.GetSlug(), Timezone: in.GetTimezone()}
}

// hookError carries a hook's error to the host as a gRPC status.
func hookError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, fmt.Sprint(err))
}

// hostTime is the host's clock as it sent it; the plugin's own when an
// older host sent none.
func hostTime(ms int64) time.Time {
	if ms == 0 {
		return time.Now().UTC()
	}
	return time.UnixMilli(ms).UTC()
}
