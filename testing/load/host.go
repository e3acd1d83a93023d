package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// hostProcess is a crmguard the load generator started itself.
type hostProcess struct {
	cmd  *exec.Cmd
	base string
}

// startHost runs `crmguard serve` on the database, on a free port of the
// loopback address, and waits until it listens.
// The host logs only warnings, so that logging every request does not
// weigh on the figures; readiness is read from /readyz.
func startHost(ctx context.Context, bin, dsn, redisURL string, env ...string) (*hostProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--log-level", "warn")
	// The plugins built with the binary (make build) are the host's.
	cmd.Env = append(os.Environ(), "CRMGUARD_DB_DRIVER=mysql", "CRMGUARD_DB_DSN="+dsn, "CRMGUARD_CONFIG=", "CRMGUARD_REDIS_URL="+redisURL,
		"CRMGUARD_PLUGIN_DIR="+filepath.Join(filepath.Dir(bin), "plugins"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	h := &hostProcess{cmd: cmd, base: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(h.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s was not ready within 60 s", bin)
}

// forgetCache deletes what a host cached of an install in Redis (keys of
// the host's prefix with the install as hash tag), so that a run starts
// cold and its policy computations are measured.
func forgetCache(ctx context.Context, redisURL, installID string) error {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("-redis-url: %w", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, "crmguard:{"+installID+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := rdb.Unlink(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rss returns the host's resident memory in bytes.
func (h *hostProcess) rss() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func (h *hostProcess) stop() {
	h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
	}
}
