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
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// process is one run of a plugin's binary.
type process struct {
	client *plugin.Client
	conn   plugin.ClientProtocol
	rpc    pluginv1.PluginClient
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

// healthy reports whether the process runs and answers a ping.
func (proc *process) healthy() error {
	if proc.client.Exited() {
		return errors.New("the process exited")
	}
	return proc.conn.Ping()
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
