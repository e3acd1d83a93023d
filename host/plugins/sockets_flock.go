//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package plugins

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// socketDir is a host's directory of plugin sockets, locked while the
// host runs.
type socketDir struct {
	path string
	lock *os.File // holds an flock on path/lock until Close
}

// The names under a parent: hostPrefix starts each host's directory,
// lockName is the lock file inside it; parentLock serialises hosts
// setting up their directories under one parent.
const (
	hostPrefix = "h"
	lockName   = "lock"
	parentLock = ".lock"
)

// openSocketDir makes this host's socket directory under parent, after
// removing the directories of hosts that no longer run.
func openSocketDir(parent string, log *slog.Logger) (_ *socketDir, err error) {
	if err := checkSocketParent(parent); err != nil {
		return nil, err
	}
	// One host at a time makes its directory and clears dead hosts':
	// a directory found without a lock is then one whose host died
	// half-way, never one being made.
	setup, err := lockFile(filepath.Join(parent, parentLock), true, true)
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	if err := removeDeadHosts(parent, log); err != nil {
		return nil, err
	}
	path, err := os.MkdirTemp(parent, hostPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(path)
		}
	}()
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(path, lockName), true, false)
	if err != nil {
		return nil, err
	}
	return &socketDir{path: path, lock: lock}, nil
}

// removeDeadHosts removes the directories under parent whose lock no host
// holds: their host has exited, and its plugin processes with it. One it
// cannot remove is left, with a warning.
func removeDeadHosts(parent string, log *slog.Logger) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), hostPrefix) {
			continue // symbolic links included: nothing is followed
		}
		dir := filepath.Join(parent, e.Name())
		lock, err := lockFile(filepath.Join(dir, lockName), false, false)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			continue // a running host's
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			log.Warn("plugin sockets of another host left alone: their lock cannot be read", "dir", dir, "err", err)
			continue
		}
		err = os.RemoveAll(dir)
		if lock != nil {
			lock.Close()
		}
		if err != nil {
			log.Warn("plugin sockets of a host that no longer runs could not be removed", "dir", dir, "err", err)
			continue
		}
		log.Info("removed the plugin sockets of a host that no longer runs", "dir", dir)
	}
	return nil
}

// lockFile opens path (creating it if create) and takes an exclusive
// flock on it, waiting for it if wait. The lock lasts until the file is
// closed or the process ends, however it ends.
func lockFile(path string, create, wait bool) (*os.File, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close removes the directory, then lets go of its lock.
func (d *socketDir) Close() error {
	err := os.RemoveAll(d.path)
	d.lock.Close()
	return err
}

// ownerOf returns the user id that owns a file.
func ownerOf(info fs.FileInfo) (int, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
