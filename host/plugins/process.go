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
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// process is one run of a plugin's binary.
type process struct {
	client  *plugin.Client
	conn    plugin.ClientProtocol
	rpc     pluginv1.PluginClient
	run     *runner
	started time.Time // by the runtime's clock, once it answered its manifest
}

// start runs one plugin binary and reads its manifest.
func start(ctx context.Context, path string, opts Options, calls metrics, sockets string) (*Plugin, error) {
	proc, m, err := launch(ctx, path, opts, sockets)
	if err != nil {
		return nil, err
	}
	p := &Plugin{Path: path, opts: opts, metrics: calls, sockets: sockets, proc: proc}
	p.Manifest = sdk.Manifest{
		ID: m.GetId(), Name: m.GetName(), Version: m.GetVersion(), Description: m.GetDescription(), Priority: int(m.GetPriority()),
		SettingsSchema: m.GetSettingsSchemaJson(), DefaultSettings: m.GetDefaultSettingsJson(),
	}
	p.Hooks = m.GetHooks()
	if p.schema, err = p.Manifest.Compile(); err != nil {
		proc.stop()
		return nil, err
	}
	p.calls = newCallLimit(opts.MaxCallsPerInstall, opts.HTTPTimeout, opts.Now)
	p.record.since = proc.started
	return p, nil
}

// launch starts a process of the binary and asks for its manifest. The
// process's unix sockets, the plugin's and the host's end of its host API
// alike, go into a directory of their own under sockets (go-plugin makes
// it), removed when the process ends; "" leaves them to go-plugin, in the
// system's temporary directory.
func launch(ctx context.Context, path string, opts Options, sockets string) (*process, *pluginv1.ManifestResponse, error) {
	if err := checkPinned(path, opts.Checksums); err != nil {
		return nil, nil, err
	}
	run := &runner{path: path}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.Versions(),
		RunnerFunc:       run.prepare,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: sockets},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     opts.StartTimeout,
		Logger:           pluginLogger(opts.Logger, filepath.Base(path)),
		Stderr:           io.Discard, // plugin logs arrive through the logger
	})
	conn, err := client.Client()
	if err != nil {
		run.kill(client)
		return nil, nil, fmt.Errorf("not a crmguard plugin, or one of an unknown protocol version: %w", err)
	}
	raw, err := conn.Dispense(wire.Name)
	if err != nil {
		run.kill(client)
		return nil, nil, fmt.Errorf("dispense: %w", err)
	}
	wc := raw.(wire.Client)
	proc := &process{client: client, conn: conn, rpc: wc.PluginClient, run: run}
	var pluginID atomic.Pointer[string]
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	m, err := proc.rpc.Manifest(ctx, &pluginv1.ManifestRequest{HostBrokerId: serveHost(wc.Broker, opts.Host, &pluginID)})
	if err != nil {
		run.kill(client)
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	id := m.GetId()
	pluginID.Store(&id)
	proc.started = opts.Now()
	return proc, m, nil
}

// checkPinned refuses a binary that plugins.checksums does not list, or
// whose SHA-256 is not the one listed, when any binary is pinned.
func checkPinned(path string, checksums map[string]string) error {
	if len(checksums) == 0 {
		return nil
	}
	name := filepath.Base(path)
	sum, pinned := checksums[name]
	if !pinned {
		return fmt.Errorf("not started: plugins.checksums pins binaries and does not list %s", name)
	}
	raw, err := hex.DecodeString(sum)
	if err != nil {
		return fmt.Errorf("plugins.checksums.%s: %w", name, err)
	}
	ok, err := (&plugin.SecureConfig{Checksum: raw, Hash: sha256.New()}).Check(path)
	switch {
	case err != nil:
		return fmt.Errorf("not started: its checksum could not be computed: %w", err)
	case !ok:
		return fmt.Errorf("not started: its SHA-256 checksum is not the one plugins.checksums.%s pins", name)
	}
	return nil
}

// kill kills the process, waits for it, and removes its sockets.
func (proc *process) kill() { proc.run.kill(proc.client) }

// stop asks the process to exit, kills it if it does not in time, and
// removes its sockets.
func (proc *process) stop() { proc.run.stop(proc.client) }

// healthy reports whether the process runs and answers a ping within
// timeout: a process that hangs is as good as dead.
func (proc *process) healthy(timeout time.Duration) error {
	if proc.client.Exited() {
		return errors.New("the process exited")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, ok := proc.conn.(*plugin.GRPCClient) // AllowedProtocols admits gRPC alone
	if !ok {
		return proc.conn.Ping() // without a deadline
	}
	_, err := healthpb.NewHealthClient(conn.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
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
