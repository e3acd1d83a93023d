// Package cachetest gives tests real Redis servers: the shared one named by
// CRMGUARD_TEST_REDIS_URL (with a key prefix per test), or a redis-server
// of the test's own that it can stop and start again.
package cachetest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// Redis returns a client of the shared test Redis and a key prefix of the
// test's own; without a reachable Redis the test is skipped (or fails under
// CRMGUARD_TEST_REQUIRE_SERVICES=1).
func Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	url := os.Getenv("CRMGUARD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		storetest.Unavailable(tb, "Redis at "+opts.Addr, err)
	}
	return c, "crmguard-test:" + crm.NewID() + ":"
}

// Counter counts the round trips a client makes to Redis.
type Counter struct{ n atomic.Int64 }

// Count returns the round trips so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// DialHook is part of redis.Hook.
func (c *Counter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is part of redis.Hook.
func (c *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}

// ProcessPipelineHook is part of redis.Hook.
func (c *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// Server is a redis-server of the test's own, on its own port, that keeps
// its data across restarts (append-only file in a temp directory).
type Server struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// StartServer starts a redis-server; it is killed when the test ends.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		storetest.Unavailable(tb, "redis-server", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), dir: tb.TempDir()}
	ln.Close()
	s.Start(tb)
	tb.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	return s
}

// Client returns a client of the server with short timeouts, as the host
// configures its own.
func (s *Server) Client(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Start starts the server (again) and waits until it answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 200 {
			tb.Fatal("redis-server did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Stop kills the server.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// StartCluster starts a Redis Cluster of three masters of the test's own
// and returns their addresses; the nodes are killed when the test ends.
func StartCluster(tb testing.TB) []string {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			storetest.Unavailable(tb, bin, err)
		}
	}
	var addrs []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		dir := tb.TempDir()
		cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--dir", dir)
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		c := redis.NewClient(&redis.Options{Addr: addr})
		for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
			if i > 200 {
				tb.Fatal("redis-server (cluster node) did not start")
			}
			time.Sleep(25 * time.Millisecond)
		}
		c.Close()
		addrs = append(addrs, addr)
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	for i := 0; ; i++ {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return addrs
		}
		if i > 400 {
			tb.Fatalf("the cluster did not become ready: %v %s", err, info)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
