package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

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
	c := harness.NewCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"), "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "hello"))
	parent := c.SocketDir
	srv := c.Serve()
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
	srv.Kill()
	for harness.Alive(plugin) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d outlived its host", plugin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := hostSocketDirs(t, parent); !slices.Equal(left, hosts) || len(processSockets(t, hosts[0])) != 1 {
		t.Fatalf("after the host's SIGKILL: %v, want its directory left as it was", left)
	}

	srv = c.Serve()
	now := hostSocketDirs(t, parent)
	if len(now) != 1 || now[0] == hosts[0] {
		t.Fatalf("after a new start: %v; the dead host's was %s", now, hosts[0])
	}
	srv.Stop(t)
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
	c := harness.NewCLI(t, driver, dsn, "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "host/plugins/testdata/gate"),
		"CRMGUARD_PLUGIN_MAX_CALLS_PER_INSTALL=2", "CRMGUARD_PLUGIN_HTTP_TIMEOUT=1m")
	c.CreateInstalls([]string{"acme", "globex"})
	srv := c.Serve()
	acme, globex := c.Login(t, srv.Base, "acme", "admin@acme.test"), c.Login(t, srv.Base, "globex", "admin@globex.test")
	for _, u := range []harness.Client{acme, globex} {
		u.Must(200, "POST", "/v1/plugins/gate/activate", nil)
	}
	const api = "/v1/plugins/gate/api"

	held := make(chan string, 2)
	for range 2 {
		go func() {
			waiting := acme
			waiting.HTTP = http.DefaultClient // no timeout: the call waits as long as the gate is shut
			r, err := waiting.Raw("GET", api+"/wait", nil)
			if err != nil {
				held <- err.Error()
				return
			}
			held <- fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(string(r.Body)))
		}()
	}
	harness.WaitFor(t, "acme's two calls waiting in the plugin", 20*time.Second, func() bool {
		return globex.Must(200, "GET", api+"/waiting", nil).Object(t)["waiting"] == float64(2)
	})

	r := acme.Must(429, "GET", api+"/waiting", nil)
	if code := r.ErrorCode(); code != "plugin_busy" || !strings.Contains(string(r.Body), "plugin gate is answering 2 calls of this install already") {
		t.Fatalf("acme's third call: %s", r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q, want whole seconds up to the calls' deadline (60)", r.Header.Get("Retry-After"))
	}
	globex.Must(200, "GET", api+"/waiting", nil) // served meanwhile
	globex.Must(200, "POST", api+"/open", nil)
	for range 2 {
		if got := <-held; got != `200 {"waited":true}` {
			t.Fatalf("acme's waiting call: %s", got)
		}
	}
	acme.Must(200, "GET", api+"/waiting", nil)
	if n := srv.Metric(t, `crmguard_plugin_busy_total{plugin="gate"}`); n != 1 {
		t.Fatalf("crmguard_plugin_busy_total: %v, want 1", n)
	}
	srv.Stop(t)
}
