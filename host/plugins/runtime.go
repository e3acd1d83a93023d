package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
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

	// StableAfter is how long a process must run to count as running fine
	// (default 30 s): it ends the count of failures in a row, so that the
	// next restart waits 1 s again, and once a process of the plugin has
	// run that long the host no longer gives up on it for dying (only for
	// failing to start). A plugin whose processes all die sooner is
	// crash-looping: its third failure in a row leaves it down until an
	// operator restarts it.
	StableAfter time.Duration
	// PingTimeout bounds a health ping (default 2 s): a process that does
	// not answer in time is killed and replaced.
	PingTimeout time.Duration
	// MaxCallsPerInstall is how many calls to a plugin's routes one
	// install may have running at once (default 8); a call beyond it is
	// refused at once with a BusyError.
	MaxCallsPerInstall int
	// SocketDir is where this host makes the directory of its plugins'
	// unix sockets (default DefaultSocketParent()); hosts may share it.
	SocketDir string
	// Now is the clock of supervision and call limits (default time.Now).
	Now func() time.Time
}

// Runtime is the running plugins of a host.
// Its plugins and problems are settled by Start and never change after;
// each plugin's process is supervised on its own.
type Runtime struct {
	opts     Options
	metrics  metrics
	sockets  *socketDir // nil without plugins
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
	if opts.StableAfter <= 0 {
		opts.StableAfter = 30 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 2 * time.Second
	}
	if opts.MaxCallsPerInstall <= 0 {
		opts.MaxCallsPerInstall = 8
	}
	if opts.SocketDir == "" {
		opts.SocketDir = DefaultSocketParent()
	}
	if opts.Now == nil {
		opts.Now = time.Now
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
	if len(paths) > 0 {
		if r.sockets, err = openSocketDir(opts.SocketDir, opts.Logger); err != nil {
			return nil, fmt.Errorf("plugins: socket directory: %w", err)
		}
	}
	for _, path := range paths {
		p, err := start(ctx, path, opts, r.metrics, r.sockets.path)
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
	if opts.Registry != nil {
		if err := opts.Registry.Register(stateCollector{r.order}); err != nil {
			r.Close()
			return nil, fmt.Errorf("plugins: register metrics: %w", err)
		}
	}
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

// SocketDir is the directory of this host's plugin sockets, removed by
// Close; "" when there are none.
func (r *Runtime) SocketDir() string {
	if r.sockets == nil {
		return ""
	}
	return r.sockets.path
}

// Close stops every plugin process and removes the host's socket
// directory.
func (r *Runtime) Close() {
	if r.stop != nil {
		r.stop()
	}
	r.done.Wait()
	for _, p := range r.order {
		p.stop()
	}
	if r.sockets != nil {
		if err := r.sockets.Close(); err != nil {
			r.opts.Logger.Warn("the plugin socket directory could not be removed", "dir", r.sockets.path, "err", err)
		}
	}
}
