// Package plugins runs the host's plugins: every executable in the plugin
// directory is started with hashicorp/go-plugin, asked for its manifest
// once, and called for the hooks it implements. A binary that is not a
// working crmguard plugin is reported, not fatal: the host starts without
// it.
package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// Plugin is one plugin of the host, supervised (see supervise.go): a
// process that exits or stops answering is replaced, with backoff.
type Plugin struct {
	Path     string
	Manifest sdk.Manifest
	Hooks    []string

	opts    Options
	metrics metrics
	schema  *sdk.SettingsSchema // the manifest's, compiled at start
	sockets string              // the host's socket directory
	calls   *callLimit          // calls to its routes, per install

	// launching is held while a process of the plugin is being started,
	// so that the supervisor and an operator's Restart never start two.
	launching sync.Mutex

	mu      sync.Mutex
	proc    *process // nil while down
	record  record   // the supervisor's account of its processes
	stopped bool     // the runtime is closed: nothing starts again
}

// ErrUnavailable is returned by calls to a plugin that is down.
var ErrUnavailable = errors.New("plugin is not running")

// Has reports whether the plugin implements a hook.
func (p *Plugin) Has(hook string) bool { return slices.Contains(p.Hooks, hook) }

// Policy runs the plugin's policy hook; a plugin without one returns the
// policy unchanged, without a call.
func (p *Plugin) Policy(ctx context.Context, in sdk.Install, u sdk.User, settings json.RawMessage, policy sdk.Policy) (_ sdk.Policy, err error) {
	if !p.Has(sdk.HookPolicy) {
		return policy, nil
	}
	raw, err := json.Marshal(policy)
	if err != nil {
		return sdk.Policy{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.PolicyTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookPolicy, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return sdk.Policy{}, err
	}
	resp, err := rpc.Policy(ctx, &pluginv1.PolicyRequest{
		Install: installMsg(in), User: userMsg(u), SettingsJson: settings, PolicyJson: raw,
	})
	if err != nil {
		return sdk.Policy{}, fmt.Errorf("plugin %s: policy: %w", p.Manifest.ID, err)
	}
	var out sdk.Policy
	if err := json.Unmarshal(resp.GetPolicyJson(), &out); err != nil {
		return sdk.Policy{}, fmt.Errorf("plugin %s: policy: %w", p.Manifest.ID, err)
	}
	if err := out.Validate(); err != nil {
		return sdk.Policy{}, fmt.Errorf("plugin %s: invalid policy: %w", p.Manifest.ID, err)
	}
	return out, nil
}

// CheckSettings reports why settings do not match the plugin's settings
// schema, naming the first offending values; the message is for the admin
// who sent them. It does not call the plugin.
func (p *Plugin) CheckSettings(settings json.RawMessage) error {
	return p.schema.Validate(settings)
}

// ValidateSettings asks the plugin whether settings are acceptable; the
// answer is a problem for the user, or "".
func (p *Plugin) ValidateSettings(ctx context.Context, in sdk.Install, settings json.RawMessage) (_ string, err error) {
	if !p.Has(sdk.HookSettings) {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.PolicyTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookSettings, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return "", err
	}
	resp, err := rpc.ValidateSettings(ctx, &pluginv1.SettingsRequest{Install: installMsg(in), SettingsJson: settings})
	if err != nil {
		return "", fmt.Errorf("plugin %s: settings: %w", p.Manifest.ID, err)
	}
	return resp.GetProblem(), nil
}

// Activate runs the plugin's activation hook for an install, if it has one.
func (p *Plugin) Activate(ctx context.Context, in sdk.Install, settings json.RawMessage) error {
	return p.lifecycle(ctx, in, settings, pluginv1.PluginClient.Activate)
}

// Deactivate runs the plugin's deactivation hook for an install, if it has
// one.
func (p *Plugin) Deactivate(ctx context.Context, in sdk.Install, settings json.RawMessage) error {
	return p.lifecycle(ctx, in, settings, pluginv1.PluginClient.Deactivate)
}

func (p *Plugin) lifecycle(ctx context.Context, in sdk.Install, settings json.RawMessage,
	call func(pluginv1.PluginClient, context.Context, *pluginv1.InstallRequest, ...grpc.CallOption) (*pluginv1.Empty, error)) (err error) {
	if !p.Has(sdk.HookActivate) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookActivate, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return err
	}
	if _, err := call(rpc, ctx, &pluginv1.InstallRequest{Install: installMsg(in), SettingsJson: settings}); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Manifest.ID, err)
	}
	return nil
}

// Request is a request to a plugin's routes, as the host forwards it.
type Request struct {
	Install  sdk.Install
	User     sdk.User
	Settings json.RawMessage
	Method   string
	Path     string // below /v1/plugins/{id}/api, starting with "/", decoded
	RawPath  string // Path as the client wrote it, percent-encoded
	Query    string
	Headers  map[string]string
	Body     []byte
	Now      time.Time // the host's clock
}

// Response is a plugin's answer to a Request.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// HTTP forwards a request to the plugin's routes. A request of an install
// that has Options.MaxCallsPerInstall running in the plugin already is
// refused at once with a *BusyError.
func (p *Plugin) HTTP(ctx context.Context, req Request) (_ Response, err error) {
	if !p.Has(sdk.HookHTTP) {
		return Response{Status: 404}, nil
	}
	done, err := p.calls.enter(p.Manifest.ID, req.Install.ID)
	if err != nil {
		p.metrics.busy.WithLabelValues(p.Manifest.ID).Inc()
		return Response{}, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, p.opts.HTTPTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookHTTP, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return Response{}, err
	}
	resp, err := rpc.HTTP(ctx, &pluginv1.HTTPRequest{
		Install: installMsg(req.Install), User: userMsg(req.User),
		SettingsJson: req.Settings, Method: req.Method, Path: req.Path, RawPath: req.RawPath, Query: req.Query, Headers: req.Headers, Body: req.Body,
		NowMs: req.Now.UnixMilli(),
	})
	if err != nil {
		return Response{}, fmt.Errorf("plugin %s: http: %w", p.Manifest.ID, err)
	}
	return Response{Status: int(resp.GetStatus()), Headers: resp.GetHeaders(), Body: resp.GetBody()}, nil
}

// BeforeWrite runs the plugin's before-write hook: a refusal comes back as
// a Denial, a change of owner or team as a WriteChange.
func (p *Plugin) BeforeWrite(ctx context.Context, w sdk.Write) (_ sdk.WriteChange, err error) {
	if !p.Has(sdk.HookBefore) {
		return sdk.WriteChange{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.WriteTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookBefore, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return sdk.WriteChange{}, err
	}
	resp, err := rpc.BeforeWrite(ctx, sdk.WireWrite(w))
	if err != nil {
		return sdk.WriteChange{}, fmt.Errorf("plugin %s: before write: %w", p.Manifest.ID, err)
	}
	return sdk.WriteChangeOf(resp)
}

// AfterWrite delivers one committed write to the plugin's after-write hook.
func (p *Plugin) AfterWrite(ctx context.Context, e sdk.WriteEvent) (err error) {
	if !p.Has(sdk.HookAfter) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.HTTPTimeout)
	defer cancel()
	defer p.metrics.observe(p.Manifest.ID, sdk.HookAfter, time.Now(), &err)
	rpc, err := p.rpc()
	if err != nil {
		return err
	}
	_, err = rpc.AfterWrite(ctx, sdk.WireWriteEvent(e))
	if err != nil {
		return fmt.Errorf("plugin %s: after write: %w", p.Manifest.ID, err)
	}
	return nil
}

func installMsg(in sdk.Install) *pluginv1.Install { return sdk.WireInstall(in) }

func userMsg(u sdk.User) *pluginv1.User { return sdk.WireUser(u) }
