// Package plugins runs the host's plugins: every executable in the plugin
// directory is started with hashicorp/go-plugin, asked for its manifest
// once, and called for the hooks it implements. A binary that is not a
// working crmguard plugin is reported, not fatal: the host starts without
// it.
package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// Options configure a Runtime.
type Options struct {
	Dir    string // the plugin directory; missing means no plugins
	Logger *slog.Logger
	// StartTimeout bounds starting one plugin and reading its manifest
	// (default 10 s).
	StartTimeout time.Duration
	// PolicyTimeout bounds one policy hook call (default 500 ms).
	PolicyTimeout time.Duration
	// HTTPTimeout bounds one request to a plugin's routes (default 5 s).
	HTTPTimeout time.Duration
	// Checksums pins binaries by file name to their SHA-256 (hex); when
	// any is given, a binary not listed or not matching is not started.
	Checksums map[string]string
	// HealthEvery is how often each plugin is checked (default 1 s).
	HealthEvery time.Duration
	// WriteTimeout bounds one before-write hook call (default 500 ms); an
	// after-write delivery is bounded by HTTPTimeout.
	WriteTimeout time.Duration
	// Host answers the plugins' calls to the host API; each call reaches
	// it with the calling plugin's id in its context (CallingPlugin). Nil
	// offers no host API.
	Host pluginv1.HostServer
	// Registry receives the runtime's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Runtime is the running plugins of a host.
// Its plugins and problems are settled by Start and never change after;
// each plugin's process is supervised on its own.
type Runtime struct {
	opts     Options
	metrics  metrics
	stop     context.CancelFunc
	done     sync.WaitGroup
	plugins  map[string]*Plugin
	order    []*Plugin // by priority, then id
	problems []Problem
}

// Problem is a plugin binary that could not be used, and why.
type Problem struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Plugin is one plugin of the host, supervised: a process that exits or
// stops answering is restarted, with backoff, until it has failed three
// times within an hour.
type Plugin struct {
	Path     string
	Manifest sdk.Manifest
	Hooks    []string

	opts    Options
	metrics metrics
	schema  *sdk.SettingsSchema // the manifest's, compiled at start

	// launching is held while a process of the plugin is being started,
	// so that the supervisor and an operator's Restart never start two.
	launching sync.Mutex

	mu       sync.Mutex
	proc     *process    // nil while down
	failures []time.Time // within the last hour
	failed   bool        // given up on until Restart
	stopped  bool        // the runtime is closed: nothing starts again
}

// process is one run of a plugin's binary.
type process struct {
	client *plugin.Client
	conn   plugin.ClientProtocol
	rpc    pluginv1.PluginClient
}

// ErrUnavailable is returned by calls to a plugin that is down.
var ErrUnavailable = errors.New("plugin is not running")

// errClosed is Restart's answer once the runtime is closed.
var errClosed = errors.New("the plugin runtime is closed")

// Start starts every plugin of the directory.
func Start(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.PolicyTimeout <= 0 {
		opts.PolicyTimeout = 500 * time.Millisecond
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 500 * time.Millisecond
	}
	if opts.Host == nil {
		opts.Host = pluginv1.UnimplementedHostServer{}
	}
	if opts.HealthEvery <= 0 {
		opts.HealthEvery = time.Second
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = 5 * time.Second
	}
	r := &Runtime{opts: opts, plugins: map[string]*Plugin{}}
	var err error
	if r.metrics, err = newMetrics(opts.Registry); err != nil {
		return nil, err
	}
	paths, err := executables(opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, path := range paths {
		p, err := start(ctx, path, opts, r.metrics)
		switch {
		case err != nil:
			r.problem(path, err)
		case r.plugins[p.Manifest.ID] != nil:
			p.stop()
			r.problem(path, fmt.Errorf("plugin id %q is already used by %s", p.Manifest.ID, r.plugins[p.Manifest.ID].Path))
		default:
			r.plugins[p.Manifest.ID] = p
			opts.Logger.Info("plugin started", "plugin", p.Manifest.ID, "version", p.Manifest.Version, "path", path, "hooks", p.Hooks)
		}
	}
	for _, p := range r.plugins {
		r.order = append(r.order, p)
	}
	slices.SortFunc(r.order, func(a, b *Plugin) int {
		if a.Manifest.Priority != b.Manifest.Priority {
			return a.Manifest.Priority - b.Manifest.Priority
		}
		return strings.Compare(a.Manifest.ID, b.Manifest.ID)
	})
	supervising, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	for _, p := range r.plugins {
		r.done.Go(func() { p.supervise(supervising) })
	}
	return r, nil
}

func (r *Runtime) problem(path string, err error) {
	r.problems = append(r.problems, Problem{Path: path, Error: err.Error()})
	r.opts.Logger.Warn("plugin not started", "path", path, "err", err)
}

// executables lists the regular executable files of dir, by name.
func executables(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	var paths []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	return paths, nil
}

// start runs one plugin binary and reads its manifest.
func start(ctx context.Context, path string, opts Options, calls metrics) (*Plugin, error) {
	proc, m, err := launch(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	p := &Plugin{Path: path, opts: opts, metrics: calls, proc: proc}
	p.Manifest = sdk.Manifest{
		ID: m.GetId(), Name: m.GetName(), Version: m.GetVersion(), Description: m.GetDescription(), Priority: int(m.GetPriority()),
		SettingsSchema: m.GetSettingsSchemaJson(), DefaultSettings: m.GetDefaultSettingsJson(),
	}
	p.Hooks = m.GetHooks()
	if p.schema, err = p.Manifest.Compile(); err != nil {
		proc.client.Kill()
		return nil, err
	}
	return p, nil
}

// launch starts a process of the binary and asks for its manifest.
func launch(ctx context.Context, path string, opts Options) (*process, *pluginv1.ManifestResponse, error) {
	var secure *plugin.SecureConfig
	if len(opts.Checksums) > 0 {
		sum, pinned := opts.Checksums[filepath.Base(path)]
		if !pinned {
			return nil, nil, fmt.Errorf("not started: plugins.checksums pins binaries and does not list %s", filepath.Base(path))
		}
		raw, err := hex.DecodeString(sum)
		if err != nil {
			return nil, nil, fmt.Errorf("plugins.checksums.%s: %w", filepath.Base(path), err)
		}
		secure = &plugin.SecureConfig{Checksum: raw, Hash: sha256.New()}
	}
	cmd := exec.Command(path)
	orphanProof(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		SecureConfig:     secure,
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.Versions(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     opts.StartTimeout,
		Logger:           pluginLogger(opts.Logger, filepath.Base(path)),
		Stderr:           io.Discard, // plugin logs arrive through the logger
	})
	conn, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("not a crmguard plugin, or one of an unknown protocol version: %w", err)
	}
	raw, err := conn.Dispense(wire.Name)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("dispense: %w", err)
	}
	wc := raw.(wire.Client)
	proc := &process{client: client, conn: conn, rpc: wc.PluginClient}
	var pluginID atomic.Pointer[string]
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	m, err := proc.rpc.Manifest(ctx, &pluginv1.ManifestRequest{HostBrokerId: serveHost(wc.Broker, opts.Host, &pluginID)})
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	id := m.GetId()
	pluginID.Store(&id)
	return proc, m, nil
}

// supervise watches the plugin until ctx ends: a process that exited or
// does not answer a ping is replaced, after a backoff; the third failure
// within an hour leaves the plugin down until Restart.
func (p *Plugin) supervise(ctx context.Context) {
	t := time.NewTicker(p.opts.HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		proc, failed := p.proc, p.failed
		p.mu.Unlock()
		switch {
		case failed:
		case proc != nil:
			if err := proc.healthy(); err != nil {
				p.down(proc, err)
			}
		case p.backedOff():
			p.relaunch(ctx)
		}
	}
}

// healthy reports whether the process runs and answers a ping.
func (proc *process) healthy() error {
	if proc.client.Exited() {
		return errors.New("the process exited")
	}
	return proc.conn.Ping()
}

// down takes a failed process out of service and counts the failure.
func (p *Plugin) down(proc *process, cause error) {
	proc.client.Kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != proc {
		return
	}
	p.proc = nil
	p.failLocked(cause)
}

// failLocked counts a failure; the third within an hour gives up.
func (p *Plugin) failLocked(cause error) {
	now := time.Now()
	p.failures = append(slices.DeleteFunc(p.failures, func(t time.Time) bool { return now.Sub(t) > time.Hour }), now)
	if len(p.failures) >= 3 {
		p.failed = true
		p.opts.Logger.Error("plugin failed three times within an hour; it stays down until restarted", "plugin", p.Manifest.ID, "err", cause)
		return
	}
	p.opts.Logger.Warn("plugin is down; restarting it", "plugin", p.Manifest.ID, "err", cause, "failures", len(p.failures))
}

// backedOff reports whether the wait since the last failure is over: 1 s,
// then 2 s, 4 s... up to 30 s.
func (p *Plugin) backedOff() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return true
	}
	wait := min(time.Second<<(len(p.failures)-1), 30*time.Second)
	return time.Since(p.failures[len(p.failures)-1]) >= wait
}

// relaunch starts a process in place of the one that failed, unless an
// operator's Restart is starting one already.
func (p *Plugin) relaunch(ctx context.Context) {
	if !p.launching.TryLock() {
		return // Restart is at it; the next tick sees how it went
	}
	defer p.launching.Unlock()
	p.mu.Lock()
	due := p.proc == nil && !p.failed && !p.stopped
	p.mu.Unlock()
	if due && p.startProcess(ctx) == nil {
		p.opts.Logger.Info("plugin restarted", "plugin", p.Manifest.ID)
	}
}

// startProcess launches a process of the plugin and puts it in service; a
// start that fails counts as a failure. The caller holds p.launching and
// has seen no process in service.
func (p *Plugin) startProcess(ctx context.Context) error {
	proc, m, err := launch(ctx, p.Path, p.opts)
	if err == nil && m.GetId() != p.Manifest.ID {
		proc.client.Kill()
		err = fmt.Errorf("the binary now says it is plugin %q", m.GetId())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped { // closed meanwhile
		if err == nil {
			proc.client.Kill()
		}
		return errClosed
	}
	if err != nil {
		p.failLocked(err)
		return err
	}
	p.proc = proc
	return nil
}

// Restart takes the plugin back into service now (an operator's call): its
// failures are forgotten and, unless its process is running, a new one is
// started at once, without waiting for the backoff. A running process is
// left as it is, so that restarting a healthy plugin cuts no call short.
//
// Restart returns once the plugin runs, or with the reason its start
// failed, within the start timeout; the start does not depend on ctx being
// cancelled, so a caller that leaves does not abort it half-way. A failed
// start is the first failure of a fresh count: the supervisor retries it
// with backoff.
func (p *Plugin) Restart(ctx context.Context) error {
	p.launching.Lock() // waits for a start of the supervisor's, if any
	defer p.launching.Unlock()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return fmt.Errorf("plugin %s: %w", p.Manifest.ID, errClosed)
	}
	p.failed, p.failures = false, nil
	running := p.proc != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	if err := p.startProcess(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Manifest.ID, err)
	}
	return nil
}

// Pid is the process id of the plugin's process in service, 0 while down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	if rc := p.proc.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// State is "running", "restarting" (down, to be started again) or
// "failed" (down until an operator restarts it).
func (p *Plugin) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.proc != nil:
		return "running"
	case p.failed:
		return "failed"
	}
	return "restarting"
}

// Running reports whether the plugin's process is in service.
func (p *Plugin) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil
}

// rpc returns the client of the process in service.
func (p *Plugin) rpc() (pluginv1.PluginClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Manifest.ID, ErrUnavailable)
	}
	return p.proc.rpc, nil
}

// pluginLogger sends a plugin's log lines (and go-plugin's about it) to
// the host's log, tagged with the plugin.
func pluginLogger(log *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Info,
		Output:     slogWriter{log: log.With("plugin", name)},
		JSONFormat: true,
	})
}

// slogWriter turns hclog's JSON lines into slog records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var fields map[string]any
		if json.Unmarshal([]byte(line), &fields) != nil {
			w.log.Info(line)
			continue
		}
		level := slog.LevelInfo
		switch fields["@level"] {
		case "trace", "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		msg, _ := fields["@message"].(string)
		var attrs []any
		for k, v := range fields {
			if !strings.HasPrefix(k, "@") && k != "plugin" { // the record is tagged with the plugin already
				attrs = append(attrs, k, v)
			}
		}
		w.log.Log(context.Background(), level, msg, attrs...)
	}
	return len(b), nil
}

// Plugin returns a plugin of the host by id.
func (r *Runtime) Plugin(id string) (*Plugin, bool) {
	p, ok := r.plugins[id]
	return p, ok
}

// Plugins returns the host's plugins in policy order: by priority, then
// id. The slice is shared: do not change it.
func (r *Runtime) Plugins() []*Plugin { return r.order }

// Problems returns the binaries that could not be used.
func (r *Runtime) Problems() []Problem { return slices.Clone(r.problems) }

// Close stops every plugin process.
func (r *Runtime) Close() {
	r.stop()
	r.done.Wait()
	for _, p := range r.order {
		p.stop()
	}
}

func (p *Plugin) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.client.Kill()
		p.proc = nil
	}
	p.failed, p.stopped = true, true // no restart, by the supervisor or Restart
}

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

// HTTP forwards a request to the plugin's routes.
func (p *Plugin) HTTP(ctx context.Context, req Request) (_ Response, err error) {
	if !p.Has(sdk.HookHTTP) {
		return Response{Status: 404}, nil
	}
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

func installMsg(in sdk.Install) *pluginv1.Install { return &pluginv1.Install{Id: in.ID, Slug: in.Slug} }

func userMsg(u sdk.User) *pluginv1.User { return sdk.WireUser(u) }
