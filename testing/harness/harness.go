// Package harness runs the real crmguard for tests that treat it as its
// users and operators do: it builds the binary and the shipped plugins once
// per test binary, runs commands and servers on databases of the tests' own,
// calls the HTTP API, and starts MariaDB and Redis servers that a test may
// stop, kill and start again.
//
// A test package that uses it runs its tests through Main, which removes
// the builds at the end:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
package harness

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Plugins are the plugins that ship with crmguard, by directory under
// plugins/ (which is also their id).
var Plugins = []string{"delegation", "hello", "strict-ownership", "teams"}

var (
	buildMu  sync.Mutex
	buildDir string            // this test binary's builds; removed by Main
	built    map[string]string // binary by package directory
)

// Main runs the tests of m and removes what the harness built for them.
func Main(m *testing.M) int {
	code := m.Run()
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// Root is the repository's top directory.
func Root(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("harness: cannot tell where the repository is")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// build builds the main package in dir (relative to the repository) once
// per test binary and returns the binary.
func build(tb testing.TB, dir string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[dir]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "crmguard-harness-")
		if err != nil {
			tb.Fatal(err)
		}
		buildDir, built = d, map[string]string{}
	}
	bin := filepath.Join(buildDir, filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, "./"+dir)
	cmd.Dir = Root(tb)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("harness: go build ./%s: %v\n%s", dir, err, out)
	}
	built[dir] = bin
	return bin
}

// Binary returns crmguard's binary, built from the working tree.
func Binary(tb testing.TB) string {
	tb.Helper()
	return build(tb, "cmd/crmguard")
}

// PluginDir returns a plugin directory of the test's own holding the
// named plugins (directories under plugins/, or any main package of the
// repository, such as a test plugin under a testdata directory), each
// built once per test binary.
func PluginDir(tb testing.TB, dirs ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, d := range dirs {
		if filepath.Dir(d) == "." {
			d = filepath.Join("plugins", d)
		}
		bin := build(tb, d)
		if err := copyExecutable(bin, filepath.Join(dir, filepath.Base(d))); err != nil {
			tb.Fatalf("harness: plugin %s: %v", d, err)
		}
	}
	return dir
}

// copyExecutable places a binary in a plugin directory: a hard link where
// it can (the host starts regular files only, not symbolic links), a copy
// otherwise.
func copyExecutable(from, to string) error {
	if os.Link(from, to) == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy: %w", err)
	}
	return out.Close()
}
