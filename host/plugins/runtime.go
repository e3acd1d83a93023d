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
