// Package e2e runs the real crmguard binary against real MySQL: it builds
// bin/crmguard, sets up installs and users with the command line, serves on
// a random port and walks the user stories over HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// binary is bin/crmguard, built once for the package.
var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func crmguardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(root, "bin", "crmguard")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/crmguard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// cli runs crmguard commands against one database.
type cli struct {
	t   *testing.T
	bin string
	env []string
}

func newCLI(t *testing.T, driver, dsn string) cli {
	// The tests' hosts keep their plugin sockets apart from other hosts':
	// those killed with SIGKILL leave theirs behind, here.
	return cli{t: t, bin: crmguardBinary(t), env: append(os.Environ(),
		"CRMGUARD_DB_DRIVER="+driver, "CRMGUARD_DB_DSN="+dsn, "CRMGUARD_CONFIG=", "CRMGUARD_REDIS_URL=",
		"CRMGUARD_PLUGIN_SOCKET_DIR="+shortTempDir(t))}
}

// run returns stdout, stderr and the exit status of one command.
func (c cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		c.t.Fatalf("crmguard %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// must runs a command that has to succeed and returns its stdout.
func (c cli) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("crmguard %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// server is a running `crmguard serve`.
type server struct {
	cmd  *exec.Cmd
	base string
	done chan error

	mu   sync.Mutex // guards logs, written as the server logs
	logs *bytes.Buffer
}

// log returns what the server has logged so far.
func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// serve starts `crmguard serve` on a random port and waits until it
// listens.
func (c cli) serve() *server {
	c.t.Helper()
	cmd := exec.Command(c.bin, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = c.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), logs: &bytes.Buffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.logs.Write(append(line, '\n'))
			s.mu.Unlock()
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
		s.done <- cmd.Wait()
	}()
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		if c.t.Failed() {
			c.t.Logf("server log:\n%s", s.log())
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		c.t.Fatalf("crmguard serve exited before listening: %v\n%s", err, s.log())
	case <-time.After(60 * time.Second):
		c.t.Fatal("crmguard serve did not listen within 60 s")
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("crmguard serve did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("crmguard serve did not stop within 30 s of SIGTERM")
	}
}

// user calls the API with one token.
type user struct {
	t     *testing.T
	base  string
	token string
	id    string
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("not JSON: %s", r.Body)
	}
	return v
}

func (r reply) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an error body: %s", r.Body)
	}
	return e.Error.Code
}

// ids returns the ids of a list reply's items.
func (r reply) ids(t *testing.T) []string {
	t.Helper()
	var page struct{ Items []struct{ ID string } }
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatalf("not a list: %s", r.Body)
	}
	var out []string
	for _, it := range page.Items {
		out = append(out, it.ID)
	}
	return out
}

func (u user) do(method, path string, body any, headers ...string) reply {
	u.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u.base+path, rd)
	if err != nil {
		u.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (u user) must(status int, method, path string, body any, headers ...string) reply {
	u.t.Helper()
	r := u.do(method, path, body, headers...)
	if r.Status != status {
		u.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	return r
}

// TestAssignToStory walks the foundation's story on the real binary and
// real MySQL.
func TestAssignToStory(t *testing.T) {
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.must("migrate")
	c.must("install", "create", "acme", "--name", "Acme Sales")
	c.must("install", "create", "globex")
	for _, args := range [][]string{
		{"--install", "acme", "--email", "admin@acme.test", "--role", "admin"},
		{"--install", "acme", "--email", "alice@acme.test"},
		{"--install", "acme", "--email", "bob@acme.test", "--manager", "admin@acme.test"},
		{"--install", "globex", "--email", "mallory@globex.test", "--role", "admin"},
	} {
		c.must(append([]string{"user", "create"}, args...)...)
	}
	srv := c.serve()
	login := func(slug, email string) user {
		t.Helper()
		token := strings.TrimSpace(c.must("token", "create", "--install", slug, "--email", email))
		if strings.ContainsAny(token, " \n") || !strings.HasPrefix(token, "cg_") {
			t.Fatalf("token create printed more than the token: %q", token)
		}
		u := user{t: t, base: srv.base, token: token}
		me := u.must(200, "GET", "/v1/me", nil).object(t)
		u.id = me["user"].(map[string]any)["id"].(string)
		return u
	}
	admin, alice, bob := login("acme", "admin@acme.test"), login("acme", "alice@acme.test"), login("acme", "bob@acme.test")
	mallory := login("globex", "mallory@globex.test")

	// Alice (member) creates a lead and assigns it to herself.
	acct := alice.must(201, "POST", "/v1/records/account", map[string]any{"data": map[string]any{"name": "Road Runner Holdings"}}).object(t)
	lead := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Road Runner", "email": "beep@roadrunner.example"}}).object(t)
	leadPath := "/v1/records/lead/" + lead["id"].(string)
	assigned := alice.must(200, "PUT", leadPath+"/owner", map[string]any{"owner_id": alice.id}).object(t)
	if assigned["owner_id"] != alice.id {
		t.Fatalf("assigned to %v, want alice", assigned["owner_id"])
	}
	activity := alice.must(201, "POST", "/v1/records/activity", map[string]any{
		"data": map[string]any{"name": "Call about the lead"}, "parent": map[string]any{"type": "lead", "id": lead["id"]},
	}).object(t)

	// Bob (member) lists and reads it, but may not edit it.
	if ids := bob.must(200, "GET", "/v1/records/lead", nil).ids(t); !contains(ids, lead["id"]) {
		t.Fatalf("bob's list %v lacks the lead", ids)
	}
	bob.must(200, "GET", leadPath, nil)
	if r := bob.must(403, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "won"}}); r.code(t) != "not_owner" {
		t.Fatalf("bob's PATCH: %s", r.Body)
	}

	// An admin edits it.
	edited := admin.must(200, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "qualified"}}).object(t)
	if edited["data"].(map[string]any)["stage"] != "qualified" {
		t.Fatalf("admin's edit not applied: %v", edited)
	}

	// Bob edits an unassigned lead.
	open := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Unassigned lead"}}).object(t)
	bob.must(200, "PATCH", "/v1/records/lead/"+open["id"].(string), map[string]any{"data": map[string]any{"stage": "contacted"}})

	// A concurrent PATCH with a stale If-Match gets 412 and changes nothing.
	read := alice.must(200, "GET", leadPath, nil)
	version := read.Header.Get("ETag")
	alice.must(200, "PATCH", leadPath, map[string]any{"data": map[string]any{"amount": 100}}, "If-Match", version)
	if r := alice.must(412, "PATCH", leadPath, map[string]any{"data": map[string]any{"amount": 999}}, "If-Match", version); r.code(t) != "version_mismatch" {
		t.Fatalf("stale PATCH: %s", r.Body)
	}
	if amount := alice.must(200, "GET", leadPath, nil).object(t)["data"].(map[string]any)["amount"]; amount != float64(100) {
		t.Fatalf("amount is %v after the stale PATCH, want 100", amount)
	}

	// A user of a second install gets 404 for alice's lead, like a missing
	// one, and never sees it in lists, search or related records.
	invisible := mallory.must(404, "GET", leadPath, nil)
	missing := mallory.must(404, "GET", "/v1/records/lead/"+crm.NewID(), nil)
	if !bytes.Equal(invisible.Body, missing.Body) {
		t.Fatalf("invisible %s differs from missing %s", invisible.Body, missing.Body)
	}
	for _, path := range []string{"/v1/records/lead", "/v1/records/lead?q=road", "/v1/records/lead?owner=" + alice.id, "/v1/records/account", "/v1/records/activity"} {
		if r := mallory.must(200, "GET", path, nil); len(r.ids(t)) != 0 {
			t.Fatalf("%s from globex lists %s", path, r.Body)
		}
	}
	mallory.must(404, "GET", leadPath+"/related", nil)
	mallory.must(404, "GET", "/v1/records/account/"+acct["id"].(string)+"/related", nil)
	mallory.must(404, "PATCH", leadPath, map[string]any{"data": map[string]any{"stage": "lost"}})
	mallory.must(404, "DELETE", leadPath, nil)
	mallory.must(400, "POST", "/v1/records/activity", map[string]any{
		"data": map[string]any{"name": "sneaky"}, "parent": map[string]any{"type": "lead", "id": lead["id"]},
	})

	// In its own install the same searches and related records find it.
	if ids := bob.must(200, "GET", "/v1/records/lead?q=road", nil).ids(t); !contains(ids, lead["id"]) {
		t.Fatalf("search from acme: %v", ids)
	}
	if ids := bob.must(200, "GET", leadPath+"/related", nil).ids(t); !contains(ids, activity["id"]) {
		t.Fatalf("related from acme: %v", ids)
	}

	// The assignment is in the lead's history, with who and to whom.
	hist := bob.must(200, "GET", leadPath+"/access", nil)
	if !strings.Contains(string(hist.Body), `"action":"record.assign"`) || !strings.Contains(string(hist.Body), `"to":"`+alice.id+`"`) {
		t.Fatalf("access history lacks the assignment: %s", hist.Body)
	}

	srv.stop(t)
}

// TestCommandLineErrors checks that the CLI says what is wrong and exits
// non-zero.
func TestCommandLineErrors(t *testing.T) {
	c := newCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	c.must("install", "create", "acme")
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"install", "create", "acme"}, 1, `an install with slug "acme" already exists`},
		{[]string{"install", "create", "Not A Slug"}, 1, "slug:"},
		{[]string{"install", "create"}, 2, "expected the install's slug"},
		{[]string{"user", "create", "--install", "acme"}, 2, "needs --email"},
		{[]string{"user", "create", "--install", "nope", "--email", "a@b.test"}, 1, `no install with slug "nope"`},
		{[]string{"user", "create", "--install", "acme", "--email", "a@b.test", "--role", "pirate"}, 1, `no role "pirate"`},
		{[]string{"token", "create", "--install", "acme", "--email", "ghost@b.test"}, 1, "no user ghost@b.test"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag"},
		{[]string{"migrate", "--db-driver", "postgres"}, 1, `database.driver: must be "mysql" or "sqlite", got "postgres"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := c.run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.say)
			}
			if out != "" {
				t.Fatalf("a failed command printed on stdout: %q", out)
			}
		})
	}
}

// TestDemo checks that `crmguard demo` is idempotent and that its tokens
// work, on the embedded SQLite default.
func TestDemo(t *testing.T) {
	c := newCLI(t, "sqlite", filepath.Join(t.TempDir(), "crmguard.db"))
	first := c.must("demo")
	second := c.must("demo")
	srv := c.serve()
	tokens := demoTokens(t, second)
	if len(tokens) != 4 {
		t.Fatalf("demo printed %d tokens, want 4:\n%s", len(tokens), second)
	}
	alice := user{t: t, base: srv.base, token: tokens["alice@demo.test"]}
	leads := alice.must(200, "GET", "/v1/records/lead", nil).ids(t)
	if len(leads) != 3 {
		t.Fatalf("after two demo runs there are %d leads, want 3", len(leads))
	}
	mine := alice.must(200, "GET", "/v1/records/lead?owner=me", nil).ids(t)
	if len(mine) != 1 {
		t.Fatalf("alice owns %d demo leads, want 1", len(mine))
	}
	for email, want := range map[string]string{"alice@demo.test": "allowed", "bob@demo.test": "denied"} {
		out := c.must("check", "--install", "demo", "--email", email, "--type", "lead", "--id", mine[0], "--action", "edit", "--explain")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[0] != want || len(lines) != 2 {
			t.Fatalf("check for %s: %q, want %s and a reason", email, out, want)
		}
	}
	app := user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--service", "--install", "demo"))}
	r := app.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"user_id": alice.must(200, "GET", "/v1/users?limit=200", nil).object(t)["items"].([]any)[0].(map[string]any)["id"], "action": "view", "type": "lead", "id": mine[0]}}})
	if !strings.Contains(string(r.Body), `"allowed":true`) {
		t.Fatalf("service token check: %s", r.Body)
	}
	if _, errOut, code := c.run("token", "create", "--install", "demo", "--service", "--email", "alice@demo.test"); code != 2 || !strings.Contains(errOut, "exactly one of --email, --user and --service") {
		t.Fatalf("token create with both: exit %d %s", code, errOut)
	}

	old := user{t: t, base: srv.base, token: demoTokens(t, first)["alice@demo.test"]}
	if r := old.do("GET", "/v1/me", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a replaced demo token still works: %d", r.Status)
	}
	srv.stop(t)
}

func demoTokens(t *testing.T, out string) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(f[2], "cg_") {
			tokens[f[0]] = f[2]
		}
	}
	return tokens
}

func contains(ids []string, id any) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
