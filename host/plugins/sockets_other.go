//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package plugins

import (
	"io/fs"
	"log/slog"
)

// socketDir is a host's directory of plugin sockets. Without flock the
// host cannot tell its own from a dead host's: it leaves the sockets to
// go-plugin (which uses TCP on Windows).
type socketDir struct{ path string }

func openSocketDir(string, *slog.Logger) (*socketDir, error) { return &socketDir{}, nil }

// Close does nothing: there is no directory.
func (d *socketDir) Close() error { return nil }

func ownerOf(fs.FileInfo) (int, bool) { return 0, false }
