package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
)

// shortTempDir is a temporary directory with a short path, as a parent of
// socket directories must be (t.TempDir's grow with the test's name).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// names lists the entries of dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Name())
	}
	return out
}

// hostSocketDirs lists the hosts' socket directories under parent.
func hostSocketDirs(t *testing.T, parent string) []string {
	t.Helper()
	var out []string
	for _, n := range names(t, parent) {
		if strings.HasPrefix(n, "h") {
			out = append(out, filepath.Join(parent, n))
		}
	}
	return out
}

// processSockets returns, for each plugin process's socket directory in a
// host's, how many sockets it holds.
func processSockets(t *testing.T, hostDir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range names(t, hostDir) {
		if !strings.HasPrefix(n, "plugin-dir") {
			continue
		}
		for _, s := range names(t, filepath.Join(hostDir, n)) {
			if info, err := os.Lstat(filepath.Join(hostDir, n, s)); err == nil && info.Mode().Type() == os.ModeSocket {
				out[n]++
			}
		}
	}
	return out
}

// TestPluginSockets runs the binary with its plugins' sockets under a
// directory of the test's: each host has a directory of its own there,
// each plugin process one inside it with its two sockets (the plugin's
// and the host's end of the host API). A plugin killed with SIGKILL
// leaves nothing behind, and its successor has a new directory; a host
// killed with SIGKILL leaves its directory, which the next host to start
// there removes; a host that stops cleanly removes its own.
func TestPluginSockets(t *testing.T) {
	parent := shortTempDir(t)
	c := newCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+helloDir(t), "CRMGUARD_PLUGIN_SOCKET_DIR="+parent)
	srv := c.serve()
	hosts := hostSocketDirs(t, parent)
	if len(hosts) != 1 {
		t.Fatalf("host socket directories %v", hosts)
	}
	first := processSockets(t, hosts[0])
	if len(first) != 1 || slices.Collect(maps.Values(first))[0] != 2 {
		t.Fatalf("process socket directories of the host: %v", first)
	}

	if err := syscall.Kill(pluginPid(t, srv), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := processSockets(t, hosts[0])
		_, old := now[slices.Collect(maps.Keys(first))[0]]
		if len(now) == 1 && !old && slices.Collect(maps.Values(now))[0] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the plugin's kill, the host's socket directory holds %v (was %v)", now, first)
		}
		time.Sleep(20 * time.Millisecond)
	}

	plugin := pluginPid(t, srv)
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	for alive(plugin) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d outlived its host", plugin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := hostSocketDirs(t, parent); !slices.Equal(left, hosts) || len(processSockets(t, hosts[0])) != 1 {
		t.Fatalf("after the host's SIGKILL: %v, want its directory left as it was", left)
	}

	srv = c.serve()
	now := hostSocketDirs(t, parent)
	if len(now) != 1 || now[0] == hosts[0] {
		t.Fatalf("after a new start: %v; the dead host's was %s", now, hosts[0])
	}
	srv.stop(t)
	if left := names(t, parent); !slices.Equal(left, []string{".lock"}) {
		t.Fatalf("after a clean stop the directory holds %v", left)
	}
}

// TestPluginBusy runs the binary with a plugin whose route waits until it
// is told to go on, and at most 2 calls per install: one install holding
// its 2 gets 429 plugin_busy at once for a third, with a Retry-After no
// later than its calls' deadline, while another install's calls are
// served; once its calls end, it is served again.
func TestPluginBusy(t *testing.T) {
	for _, db := range []struct{ driver, dsn string }{
		{"sqlite", filepath.Join(t.TempDir(), "crmguard.db")}, {"mysql", storetest.MySQLDSN(t)},
	} {
		t.Run(db.driver, func(t *testing.T) { busy(t, db.driver, db.dsn) })
	}
}

// busy is TestPluginBusy on one database.
func busy(t *testing.T, driver, dsn string) {
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "gate"), "./host/plugins/testdata/gate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the gate plugin: %v\n%s", err, out)
	}
	c := newCLI(t, driver, dsn)
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+dir, "CRMGUARD_PLUGIN_MAX_CALLS_PER_INSTALL=2", "CRMGUARD_PLUGIN_HTTP_TIMEOUT=1m")
	for _, slug := range []string{"acme", "globex"} {
		c.must("install", "create", slug)
		c.must("user", "create", "--install", slug, "--email", "admin@"+slug+".test", "--role", "admin")
	}
	srv := c.serve()
	login := func(slug string) user {
		return user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", slug, "--email", "admin@"+slug+".test"))}
	}
	acme, globex := login("acme"), login("globex")
	for _, u := range []user{acme, globex} {
		u.must(200, "POST", "/v1/plugins/gate/activate", nil)
	}
	const api = "/v1/plugins/gate/api"

	held := make(chan string, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest("GET", srv.base+api+"/wait", nil)
			req.Header.Set("Authorization", "Bearer "+acme.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				held <- err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			held <- fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for globex.must(200, "GET", api+"/waiting", nil).object(t)["waiting"] != float64(2) {
		if time.Now().After(deadline) {
			t.Fatal("acme's two calls are not waiting in the plugin after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	r := acme.must(429, "GET", api+"/waiting", nil)
	if code := r.code(t); code != "plugin_busy" || !strings.Contains(string(r.Body), "plugin gate is answering 2 calls of this install already") {
		t.Fatalf("acme's third call: %s", r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q, want whole seconds up to the calls' deadline (60)", r.Header.Get("Retry-After"))
	}
	globex.must(200, "GET", api+"/waiting", nil) // served meanwhile
	globex.must(200, "POST", api+"/open", nil)
	for range 2 {
		if got := <-held; got != `200 {"waited":true}` {
			t.Fatalf("acme's waiting call: %s", got)
		}
	}
	acme.must(200, "GET", api+"/waiting", nil)
	if n := metric(t, srv.base, `crmguard_plugin_busy_total{plugin="gate"}`); n != 1 {
		t.Fatalf("crmguard_plugin_busy_total: %v, want 1", n)
	}
	srv.stop(t)
}

// metric reads one sample from the host's metrics, by its name and
// labels as /metrics prints them; 0 when absent.
func metric(t *testing.T, base, sample string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// readyz returns the host's readiness report.
func readyz(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
