package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// The host's plugin sockets. go-plugin talks to each plugin process over
// unix sockets: the plugin listens on one, and the host on another for
// the plugin's calls to the host API. Each host keeps them in a directory
// of its own, under a parent that several hosts may share (plugins.socket_dir):
// a directory per process inside it, removed when the process ends (see
// runner), and the host's directory removed when the host closes. A host
// killed with SIGKILL cannot remove its directory; the next host to start
// under the same parent does, since nothing holds the lock that marks a
// directory in use any more.

// socketPathMax is the longest socket path this host accepts: the kernel
// allows 107 bytes on Linux, 103 on the BSDs and macOS.
const socketPathMax = 103

// socketSuffix is as long as the longest path go-plugin puts under the
// host's directory: a process's directory, then its socket, each named
// by os.MkdirTemp/os.CreateTemp with up to 10 random digits.
const socketSuffix = "/plugin-dir0123456789/plugin0123456789"

// DefaultSocketParent is the parent of hosts' socket directories when
// none is configured: one per user in the system's temporary directory.
func DefaultSocketParent() string {
	return filepath.Join(os.TempDir(), "crmguard-"+strconv.Itoa(os.Getuid()))
}

// checkSocketParent makes sure parent exists and that only this user can
// create, rename or remove entries in it, so that no one else can put a
// socket of theirs in the host's way or remove the host's.
func checkSocketParent(parent string) error {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	info, err := os.Lstat(parent)
	if err != nil {
		return err
	}
	switch {
	case !info.IsDir():
		return fmt.Errorf("%s is not a directory (a symbolic link is not followed)", parent)
	case info.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s may be written by other users (mode %s); it must not", parent, info.Mode().Perm())
	}
	if uid, ok := ownerOf(info); ok && uid != os.Getuid() {
		return fmt.Errorf("%s belongs to another user (uid %d)", parent, uid)
	}
	return nil
}

// checkSocketPath reports a host directory whose sockets would not fit in
// a socket address.
func checkSocketPath(dir string) error {
	if n := len(dir) + len(socketSuffix); n > socketPathMax {
		return fmt.Errorf("socket paths under %s would be %d bytes, over the %d a unix socket allows; choose a shorter plugins.socket_dir", dir, n, socketPathMax)
	}
	return nil
}
