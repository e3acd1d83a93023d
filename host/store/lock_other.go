//go:build !unix

package store

import "context"

// lockFile does nothing where advisory file locks are unavailable: there,
// start one process at a time on an SQLite file.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
