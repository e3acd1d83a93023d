package plugins_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/plugins"
)

// socketParent returns a new parent for hosts' socket directories, short
// enough for socket paths (t.TempDir's names grow with the test's).
func socketParent(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cgs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// entries lists the names in dir, sorted; none for a directory that is
// not there.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

// processDirs lists the processes' socket directories in a host's socket
// directory, checking that each holds sockets and that nothing else is
// there but the host's lock.
func processDirs(t *testing.T, hostDir string) []string {
	t.Helper()
	var dirs []string
	for _, name := range entries(t, hostDir) {
		path := filepath.Join(hostDir, name)
		switch {
		case name == "lock":
		case strings.HasPrefix(name, "plugin-dir"):
			dirs = append(dirs, path)
		default:
			t.Errorf("%s in the host's socket directory", name)
		}
	}
	return dirs
}

// sockets lists the unix sockets in dir.
func sockets(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range entries(t, dir) {
		info, err := os.Lstat(filepath.Join(dir, name))
		if err == nil && info.Mode().Type() == os.ModeSocket {
			out = append(out, name)
		}
	}
	return out
}

// TestSocketsOfAKilledPlugin: a plugin process's sockets, the plugin's and
// the host's end of the host API, are in a directory of its own in the
// host's socket directory, gone as soon as the process is killed; its
// successor gets a new one. Closing the runtime removes the host's
// directory.
func TestSocketsOfAKilledPlugin(t *testing.T) {
	c := newClock()
	r, p, _ := supervised(t, c, nil)
	parent := filepath.Dir(r.SocketDir())
	hostDir := r.SocketDir()
	if !strings.HasPrefix(filepath.Base(hostDir), "h") || len(entries(t, parent)) != 2 { // the host's and the parent's lock
		t.Fatalf("socket directory %s in %v", hostDir, entries(t, parent))
	}
	before := processDirs(t, hostDir)
	if len(before) != 1 {
		t.Fatalf("process socket directories in the host's: %v", before)
	}
	if s := sockets(t, before[0]); len(s) != 2 {
		t.Fatalf("sockets of the process: %v, want the plugin's and the host's", s)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed process's sockets removed", func() bool { return len(processDirs(t, hostDir)) == 0 })
	waitFor(t, "the kill noticed", func() bool { return !p.Running() })
	c.Add(time.Second)
	waitFor(t, "the restart", p.Running)
	after := processDirs(t, hostDir)
	if len(after) != 1 || after[0] == before[0] || len(sockets(t, after[0])) != 2 {
		t.Fatalf("after the restart: directories %v (was %v)", after, before)
	}
	r.Close()
	if names := entries(t, parent); !slices.Equal(names, []string{".lock"}) {
		t.Fatalf("after Close the parent holds %v", names)
	}
}

// TestSocketsOfDeadHosts: a host starting under a shared parent removes
// the directories of hosts that no longer run (their lock is free), keeps
// those of hosts that do, and is refused a parent other users may write
// to or one so deep that socket paths would not fit.
func TestSocketsOfDeadHosts(t *testing.T) {
	parent := socketParent(t)
	dir := t.TempDir()
	copyFile(t, hello(t), filepath.Join(dir, "hello"), 0o755)
	run := func() *plugins.Runtime {
		t.Helper()
		r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, SocketDir: parent})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	// As a host killed with SIGKILL leaves them: a process's directory
	// with its socket, and the lock nobody holds; and a host that died
	// before it took its lock.
	dead := filepath.Join(parent, "h123")
	if err := os.MkdirAll(filepath.Join(dead, "plugin-dir456"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"lock", "plugin-dir456/plugin789"} {
		if err := os.WriteFile(filepath.Join(dead, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(parent, "h999"), 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, "unrelated")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	first := run()
	second := run() // finds the first running
	want := []string{".lock", filepath.Base(first.SocketDir()), filepath.Base(second.SocketDir()), "unrelated"}
	slices.Sort(want)
	if got := entries(t, parent); !slices.Equal(got, want) {
		t.Fatalf("parent holds %v, want %v", got, want)
	}
	for _, r := range []*plugins.Runtime{first, second} {
		if d := processDirs(t, r.SocketDir()); len(d) != 1 {
			t.Fatalf("%s: %v", r.SocketDir(), d)
		}
	}

	t.Run("SharedParent", func(t *testing.T) {
		open := socketParent(t)
		if err := os.Chmod(open, 0o777); err != nil {
			t.Fatal(err)
		}
		_, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, SocketDir: open})
		if err == nil || !strings.Contains(err.Error(), "may be written by other users") {
			t.Fatalf("a parent anyone may write to: %v", err)
		}
	})
	t.Run("TooLong", func(t *testing.T) {
		deep := filepath.Join(socketParent(t), strings.Repeat("d", 60))
		_, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, SocketDir: deep})
		if err == nil || !strings.Contains(err.Error(), "choose a shorter plugins.socket_dir") {
			t.Fatalf("a parent too deep for socket paths: %v", err)
		}
		if names := entries(t, deep); !slices.Equal(names, []string{".lock"}) {
			t.Fatalf("the refused host left %v", names)
		}
	})
}
