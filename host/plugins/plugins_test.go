package plugins_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/sdk"
)

var (
	buildMu  sync.Mutex
	buildDir string            // removed when the tests end
	built    map[string]string // binary by package
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build builds a main package once per test binary.
func build(tb testing.TB, pkg string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "crmguard-plugins")
		if err != nil {
			tb.Fatal(err)
		}
		buildDir, built = dir, map[string]string{}
	}
	bin := filepath.Join(buildDir, path.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v: %s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// hello builds plugins/hello.
func hello(tb testing.TB) string { return build(tb, "github.com/crmguard/crmguard/plugins/hello") }

// withManifest puts into dir, as name, a plugin that serves manifest m.
func withManifest(tb testing.TB, dir, name string, m sdk.Manifest) {
	tb.Helper()
	copyFile(tb, build(tb, "github.com/crmguard/crmguard/host/plugins/testdata/manifest"), filepath.Join(dir, name), 0o755)
	raw, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), raw, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func copyFile(tb testing.TB, from, to string, mode os.FileMode) {
	tb.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, raw, mode); err != nil {
		tb.Fatal(err)
	}
}

func start(tb testing.TB, dir string) *plugins.Runtime {
	tb.Helper()
	r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r
}

// TestDiscovery starts a directory holding a plugin, a copy of it (same
// id), a program that is not a plugin and a file that is not executable:
// the plugin runs, the rest is reported, nothing stops the host.
func TestDiscovery(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	copyFile(t, hello(t), filepath.Join(dir, "hello-again"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "not-a-plugin"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, dir)
	p, ok := r.Plugin("hello")
	if !ok || len(r.Plugins()) != 1 {
		t.Fatalf("plugins: %v; problems: %+v", r.Plugins(), r.Problems())
	}
	if p.Manifest.Name != "Hello" || p.Manifest.Priority != 100 || !json.Valid(p.Manifest.SettingsSchema) {
		t.Fatalf("manifest: %+v", p.Manifest)
	}
	if want := []string{sdk.HookSettings, sdk.HookPolicy, sdk.HookHTTP, sdk.HookBefore, sdk.HookAfter}; !slices.Equal(p.Hooks, want) {
		t.Fatalf("hooks %v, want %v", p.Hooks, want)
	}
	var problems []string
	for _, pr := range r.Problems() {
		problems = append(problems, filepath.Base(pr.Path)+": "+pr.Error)
	}
	sort.Strings(problems)
	if len(problems) != 2 || !strings.HasPrefix(problems[0], "hello-again: plugin id \"hello\" is already used") ||
		!strings.HasPrefix(problems[1], "not-a-plugin: not a crmguard plugin") {
		t.Fatalf("problems: %q", problems)
	}
}

// TestBrokenSettingsSchema starts, beside hello, plugins whose settings
// schema does not compile, refers to another document, or does not accept
// their default settings: each is reported and not run.
func TestBrokenSettingsSchema(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	manifest := func(id, schema, defaults string) sdk.Manifest {
		m := sdk.Manifest{ID: id, Name: id, Version: "1.0.0", SettingsSchema: json.RawMessage(schema)}
		if defaults != "" {
			m.DefaultSettings = json.RawMessage(defaults)
		}
		return m
	}
	withManifest(t, dir, "bad-schema", manifest("bad-schema", `{"type":"objekt"}`, ""))
	withManifest(t, dir, "remote-ref", manifest("remote-ref", `{"$ref":"https://example.com/settings.json"}`, ""))
	withManifest(t, dir, "bad-defaults", manifest("bad-defaults", `{"properties":{"mode":{"enum":["strict","lax"]}}}`, `{"mode":"loose"}`))
	r := start(t, dir)
	if _, ok := r.Plugin("hello"); !ok || len(r.Plugins()) != 1 {
		t.Fatalf("plugins: %v; problems: %+v", r.Plugins(), r.Problems())
	}
	problems := map[string]string{}
	for _, p := range r.Problems() {
		problems[filepath.Base(p.Path)] = p.Error
	}
	for name, want := range map[string]string{
		"bad-schema":   "manifest of bad-schema: the settings schema does not compile: /type: ",
		"remote-ref":   "manifest of remote-ref: the settings schema does not compile: it refers to https://example.com/settings.json",
		"bad-defaults": "manifest of bad-defaults: the default settings do not match the settings schema: /mode: value must be one of 'strict', 'lax'",
	} {
		if !strings.HasPrefix(problems[name], want) {
			t.Errorf("%s: problem %q, want %q", name, problems[name], want)
		}
	}
	if len(problems) != 3 {
		t.Fatalf("problems: %q", problems)
	}
	if n := children(t); n != 1 {
		t.Fatalf("%d plugin processes run, want hello's alone", n)
	}
}

// children counts the test's child processes.
func children(t *testing.T) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		t.Skip("no /proc on this system")
	}
	n := 0
	for _, stat := range stats {
		raw, err := os.ReadFile(stat)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(fields) > 1 && fields[1] == fmt.Sprint(os.Getpid()) && fields[0] != "Z" {
			n++
		}
	}
	return n
}

// TestHooks calls the plugin's hooks over go-plugin.
func TestHooks(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	p, ok := start(t, dir).Plugin("hello")
	if !ok {
		t.Fatal("hello did not start")
	}
	ctx := context.Background()
	in := sdk.Install{ID: crm.NewID(), Slug: "acme"}
	settings := json.RawMessage(`{"read_only_types":["account"]}`)

	t.Run("Policy", func(t *testing.T) {
		member := access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleMember})
		got, err := p.Policy(ctx, in, sdk.User{ID: crm.NewID(), Role: crm.RoleMember}, settings, member)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Rule(sdk.TypeAccount, sdk.ActionEdit); len(r.Any) != 0 {
			t.Fatalf("accounts are still editable: %+v", r)
		}
		if r := got.Rule(sdk.TypeLead, sdk.ActionEdit); len(r.Any) == 0 {
			t.Fatal("leads became read-only too")
		}
		admin := access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleAdmin, Capabilities: []crm.Capability{crm.CapAdmin}})
		if got, err := p.Policy(ctx, in, sdk.User{ID: crm.NewID(), Role: crm.RoleAdmin}, settings, admin); err != nil || !got.Admin {
			t.Fatalf("admin policy: %+v, %v", got, err)
		}
	})
	t.Run("Settings", func(t *testing.T) {
		for raw, want := range map[string]string{
			`{"read_only_types":["account"]}`: "",
			`{"read_only_types":["lemon"]}`:   `read_only_types: unknown record type "lemon"`,
			`{"read_only":["lead"]}`:          `"read_only" is not a setting of this plugin`,
		} {
			problem, err := p.ValidateSettings(ctx, in, json.RawMessage(raw))
			if err != nil || !strings.Contains(problem, want) || (want == "") != (problem == "") {
				t.Errorf("%s: problem %q (%v), want %q", raw, problem, err, want)
			}
		}
	})
	t.Run("SettingsSchema", func(t *testing.T) {
		for raw, want := range map[string]string{
			`{"read_only_types":["account"]}`: "",
			`{"read_only_types":["lemon"]}`:   "/read_only_types/0: value must be one of 'lead', ",
			`{"read_only":["lead"]}`:          "additional properties 'read_only' not allowed",
			`["lead"]`:                        "must be a JSON object",
		} {
			got := ""
			if err := p.CheckSettings(json.RawMessage(raw)); err != nil {
				got = err.Error()
			}
			if !strings.HasPrefix(got, want) || (want == "") != (got == "") {
				t.Errorf("%s: %q, want %q", raw, got, want)
			}
		}
	})
	t.Run("ErrorsComeBackAsErrors", func(t *testing.T) {
		if _, err := p.Policy(ctx, in, sdk.User{}, json.RawMessage(`{"read_only_types":["lemon"]}`), sdk.Policy{}); err == nil {
			t.Fatal("a policy hook that failed returned no error")
		}
	})
}

// BenchmarkPolicyRoundTrip measures one policy hook call through
// go-plugin, and reports its median and 99th percentile.
func BenchmarkPolicyRoundTrip(b *testing.B) {
	dir := b.TempDir()
	copyFile(b, hello(b), filepath.Join(dir, "hello"), 0o755)
	p, ok := start(b, dir).Plugin("hello")
	if !ok {
		b.Fatal("hello did not start")
	}
	ctx := context.Background()
	in := sdk.Install{ID: crm.NewID(), Slug: "acme"}
	settings := json.RawMessage(`{"read_only_types":["account","lead"]}`)
	policy := access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleMember})
	u := sdk.User{ID: crm.NewID(), Role: crm.RoleMember}
	roundTrips(b, func() error {
		_, err := p.Policy(ctx, in, u, settings, policy)
		return err
	})
}

// BenchmarkBeforeWriteRoundTrip measures one before-write hook call
// through go-plugin, the price a write pays per plugin that has one.
func BenchmarkBeforeWriteRoundTrip(b *testing.B) {
	dir := b.TempDir()
	copyFile(b, hello(b), filepath.Join(dir, "hello"), 0o755)
	p, ok := start(b, dir).Plugin("hello")
	if !ok {
		b.Fatal("hello did not start")
	}
	ctx := context.Background()
	w := sdk.Write{Install: sdk.Install{ID: crm.NewID(), Slug: "acme"}, User: sdk.User{ID: crm.NewID(), Role: crm.RoleMember},
		Settings: json.RawMessage(`{"required_fields":{"lead":["email"]},"assign_to_creator":true}`), Operation: sdk.OpCreate,
		After: &sdk.Record{ID: crm.NewID(), Type: sdk.TypeLead, Data: map[string]any{"name": "Ada", "email": "ada@example.com"}}}
	roundTrips(b, func() error {
		_, err := p.BeforeWrite(ctx, w)
		return err
	})
}

// roundTrips runs call as the benchmark's loop and reports the median and
// 99th percentile of its durations.
func roundTrips(b *testing.B, call func() error) {
	var took []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// TestSupervision kills the plugin's process: calls fail (never answer
// without it) until the runtime has started a new one by itself; the third
// failure within an hour leaves it down until an operator restarts it. The
// operator's restart starts it at once with its failures forgotten, or
// says why it could not; restarting a running plugin leaves it alone.
func TestSupervision(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, HealthEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p, _ := r.Plugin("hello")
	ctx := context.Background()
	in := sdk.Install{ID: crm.NewID(), Slug: "acme"}
	call := func() error {
		_, err := p.Policy(ctx, in, sdk.User{ID: crm.NewID()}, nil, access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleMember}))
		return err
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	kill := func() {
		t.Helper()
		pid := p.Pid()
		if pid == 0 {
			t.Fatal("no plugin process")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor("the kill noticed", func() bool { return !p.Running() })
		if err := call(); !errors.Is(err, plugins.ErrUnavailable) {
			t.Fatalf("a call to a plugin that is down: %v", err)
		}
	}
	pid := p.Pid()
	if err := p.Restart(ctx); err != nil || p.Pid() != pid || p.State() != "running" {
		t.Fatalf("restart of a running plugin: %v; pid %d, was %d; %s", err, p.Pid(), pid, p.State())
	}
	for i := range 2 {
		kill()
		waitFor(fmt.Sprintf("restart %d", i+1), p.Running)
		if err := call(); err != nil {
			t.Fatalf("after restart %d: %v", i+1, err)
		}
	}
	kill()                      // the third failure within the hour
	time.Sleep(5 * time.Second) // longer than the backoff would be
	if p.Running() || p.State() != "failed" {
		t.Fatalf("a plugin that failed three times is %s without an operator", p.State())
	}
	// Restart returns once the plugin answers: no waiting after it.
	if err := p.Restart(ctx); err != nil || !p.Running() {
		t.Fatalf("the operator's restart: %v; %s", err, p.State())
	}
	if err := call(); err != nil {
		t.Fatalf("after the operator's restart: %v", err)
	}
	kill() // counted afresh: the supervisor restarts it by itself
	waitFor("a restart by the supervisor after the operator's", p.Running)

	// A restart that cannot start the plugin says why and leaves it to the
	// supervisor as the first failure of a fresh count, not failed (this
	// kill is the second failure since the operator's restart).
	replace := func(from string) {
		t.Helper()
		tmp := filepath.Join(dir, ".next")
		copyFile(t, from, tmp, 0o755)
		if err := os.Rename(tmp, filepath.Join(dir, "hello")); err != nil {
			t.Fatal(err)
		}
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	replace(broken)
	kill()
	if err := p.Restart(ctx); err == nil || !strings.Contains(err.Error(), "not a crmguard plugin") || p.State() != "restarting" {
		t.Fatalf("restart with a broken binary: %v; %s", err, p.State())
	}
	replace(hello(t))
	waitFor("the supervisor's start after the failed restart", p.Running)
	if err := call(); err != nil {
		t.Fatalf("after the supervisor's restart: %v", err)
	}
}

// TestRestartAfterClose: a closed runtime starts nothing again.
func TestRestartAfterClose(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Plugin("hello")
	r.Close()
	if err := p.Restart(context.Background()); err == nil || p.Running() || p.Pid() != 0 {
		t.Fatalf("restart after Close: %v; running %v", err, p.Running())
	}
}

// TestChecksums pins binaries: a matching binary starts; one that differs
// from its pin, or that is not pinned, does not.
func TestChecksums(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"hello", "tampered", "unlisted"} {
		copyFile(t, hello(t), filepath.Join(dir, name), 0o755)
	}
	raw, err := os.ReadFile(hello(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	wrong := sha256.Sum256([]byte("something else"))
	r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, Checksums: map[string]string{
		"hello": hex.EncodeToString(sum[:]), "tampered": hex.EncodeToString(wrong[:]),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, ok := r.Plugin("hello"); !ok || len(r.Plugins()) != 1 {
		t.Fatalf("plugins: %v, problems %+v", r.Plugins(), r.Problems())
	}
	problems := map[string]string{}
	for _, p := range r.Problems() {
		problems[filepath.Base(p.Path)] = p.Error
	}
	if !strings.Contains(problems["tampered"], "checksum") || !strings.Contains(problems["unlisted"], "does not list unlisted") {
		t.Fatalf("problems: %q", problems)
	}
}
