//go:build !unix

package store

import (
	"context"
	"database/sql"
)

// fileLocker does nothing where advisory file locks are unavailable: there,
// start one process at a time on an SQLite file.
type fileLocker struct{ path string }

func (*fileLocker) Lock(context.Context, *sql.DB) error   { return nil }
func (*fileLocker) Unlock(context.Context, *sql.DB) error { return nil }
