package plugins

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	pluginrunner "github.com/hashicorp/go-plugin/runner"
)

// runner runs one process of a plugin's binary for go-plugin. go-plugin's
// own runner for a command keeps the process's unix sockets in the
// system's temporary directory, where a crash leaves them; given a runner,
// it makes a directory for them (under UnixSocketConfig.TempDir, the
// host's socket directory), tells the plugin through
// PLUGIN_UNIX_SOCKET_DIR, serves the host's end of the broker there too,
// and removes it when it kills the process. The runner removes it as soon
// as the process ends, however it ends.
type runner struct {
	path string

	cmd     *exec.Cmd // set by prepare, before go-plugin uses the runner
	sockets string    // the process's socket directory, go-plugin's
	stdout  io.ReadCloser
	stderr  io.ReadCloser

	mu  sync.Mutex
	pid int // 0 until the process starts
}

var _ pluginrunner.Runner = (*runner)(nil)

// prepare is go-plugin's RunnerFunc: spec carries the environment the
// plugin needs (handshake, protocol versions, socket directory).
func (r *runner) prepare(_ hclog.Logger, spec *exec.Cmd, sockets string) (pluginrunner.Runner, error) {
	cmd := exec.Command(r.path)
	cmd.Env = spec.Env
	orphanProof(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r.cmd, r.sockets, r.stdout, r.stderr = cmd, sockets, stdout, stderr
	return r, nil
}

// Start starts the process.
func (r *runner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait waits for the process to end, then removes its sockets: nothing
// listens on them any more.
func (r *runner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.removeSockets()
	return err
}

// Kill kills the process; killing one that has ended is no error.
func (r *runner) Kill(context.Context) error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Stdout is where the plugin announces its address.
func (r *runner) Stdout() io.ReadCloser { return r.stdout }

// Stderr carries the plugin's log lines.
func (r *runner) Stderr() io.ReadCloser { return r.stderr }

// Name is the binary's path.
func (r *runner) Name() string { return r.path }

// ID is the process id, "" before the process starts.
func (r *runner) ID() string {
	if pid := r.processID(); pid != 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

// Diagnose adds nothing to go-plugin's report of a failed handshake: the
// runtime says what a failed start means.
func (r *runner) Diagnose(context.Context) string { return "" }

// PluginToHost keeps the plugin's addresses: it runs on this machine.
func (r *runner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin keeps the host's addresses: the plugin runs on this
// machine.
func (r *runner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// processID is the process id, 0 before the process starts.
func (r *runner) processID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// kill kills the process at once, then lets its client close the
// connection and wait for it, and removes the sockets also where go-plugin
// does not (a process that never started). A process that is being
// replaced has failed: asking it to exit could wait on it for ever.
func (r *runner) kill(client interface{ Kill() }) {
	r.Kill(context.Background())
	client.Kill()
	r.removeSockets()
}

// stopGrace is how long a process that is asked to exit may take before it
// is killed.
const stopGrace = 5 * time.Second

// stop asks the process to exit through its client, and kills it if it
// has not within stopGrace.
func (r *runner) stop(client interface{ Kill() }) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Kill()
	}()
	select {
	case <-done:
	case <-time.After(stopGrace):
		r.Kill(context.Background())
		<-done
	}
	r.removeSockets()
}

func (r *runner) removeSockets() {
	if r.sockets != "" {
		os.RemoveAll(r.sockets)
	}
}
