package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running `crmguard serve`, logging JSON lines, which it keeps.
type Server struct {
	Cmd  *exec.Cmd
	Base string // http://127.0.0.1:port
	done chan struct{}
	err  error // of the process, once done is closed

	mu   sync.Mutex
	logs bytes.Buffer
}

// Serve starts `crmguard serve` on a free port of the loopback address,
// with args added to its command line, and waits until it listens. The
// server is killed when the test ends, and its log is shown if it failed.
func (c *CLI) Serve(args ...string) *Server {
	c.T.Helper()
	cmd := exec.Command(c.Bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = c.Env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.T.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.T.Fatal(err)
	}
	s := &Server{Cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024) // stacks are long lines
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.logs.Write(line)
			s.logs.WriteByte('\n')
			s.mu.Unlock()
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				select {
				case addr <- entry.Addr:
				default:
				}
			}
		}
		s.err = cmd.Wait()
		close(s.done)
	}()
	c.T.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
		if c.T.Failed() {
			c.T.Logf("server log:\n%s", lastLines(s.Log(), c.LogLines))
		}
	})
	select {
	case a := <-addr:
		s.Base = "http://" + a
	case <-s.done:
		c.T.Fatalf("crmguard serve exited before listening: %v\n%s", s.err, s.Log())
	case <-time.After(60 * time.Second):
		c.T.Fatal("crmguard serve did not listen within 60 s")
	}
	return s
}

// lastLines is the last n lines of s, all of it when n is 0.
func lastLines(s string, n int) string {
	if n <= 0 {
		return s
	}
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("(%d lines before)\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "")
}

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// LogSince returns what the server has logged after the first offset
// bytes of its log, and the offset of its end, for a test that reads the
// log as it grows.
func (s *Server) LogSince(offset int) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.logs.Bytes()
	offset = min(max(offset, 0), len(all))
	return string(all[offset:]), len(all)
}

// Metrics returns what the server's /metrics says.
func (s *Server) Metrics(tb testing.TB) string {
	tb.Helper()
	return string(Client{T: tb, Base: s.Base}.Must(200, "GET", "/metrics", nil).Body)
}

// Metric returns one sample of the server's metrics, by its name and
// labels as /metrics prints them (`crmguard_plugin_up{plugin="hello"}`);
// 0 when there is none.
func (s *Server) Metric(tb testing.TB, sample string) float64 {
	tb.Helper()
	for line := range strings.SplitSeq(s.Metrics(tb), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				tb.Fatalf("metric %s: %v", sample, err)
			}
			return n
		}
	}
	return 0
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.err != nil {
			tb.Fatalf("crmguard serve did not exit cleanly on SIGTERM: %v", s.err)
		}
	case <-time.After(30 * time.Second):
		tb.Fatal("crmguard serve did not stop within 30 s of SIGTERM")
	}
}

// Kill ends the server with SIGKILL and waits until it is gone.
func (s *Server) Kill() {
	s.Cmd.Process.Kill()
	<-s.done
}

// Exited reports whether the server's process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Children returns the live processes whose parent is the server: its
// plugins.
func (s *Server) Children() []int {
	return ChildrenOf(s.Pid())
}

// PluginPids returns the server's live plugin processes by plugin id: the
// name of the binary each runs, which PluginDir names after its plugin.
func (s *Server) PluginPids() map[string]int {
	out := map[string]int{}
	for _, pid := range s.Children() {
		if args := strings.Fields(Cmdline(pid)); len(args) > 0 {
			out[filepath.Base(args[0])] = pid
		}
	}
	return out
}

// ChildrenOf lists the live (not zombie) processes whose parent is pid,
// from /proc; none where there is no /proc.
func ChildrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(child); ok && ppid == pid && state != "Z" {
			out = append(out, child)
		}
	}
	return out
}

// Alive reports whether a process exists and is not a zombie.
func Alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

// procStat returns a process's parent and state from /proc.
func procStat(pid int) (ppid int, state string, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid ...: comm may hold spaces, so start after ")".
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(fields) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[0], err == nil
}

// Cmdline is a process's command line, its arguments joined by spaces.
func Cmdline(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
}

// WaitFor polls cond every 50 ms until it holds, and fails the test when
// it does not within limit.
func WaitFor(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	if !Within(limit, cond) {
		tb.Fatalf("%s: not within %s", what, limit)
	}
}

// Within polls cond every 50 ms until it holds or limit has passed, and
// reports whether it held: WaitFor for a test that says itself what did
// not happen, or goes on when it did not.
func Within(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
