//go:build unix

package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"syscall"
	"time"
)

// fileLocker serialises migrations of one SQLite file across processes
// with an advisory lock on a file beside it; the kernel releases the lock
// when the holder exits, however it exits.
type fileLocker struct {
	path string
	file *os.File
}

func (l *fileLocker) Lock(ctx context.Context, _ *sql.DB) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			l.file = f
			return nil
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("store: migration lock %s: %w", l.path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *fileLocker) Unlock(context.Context, *sql.DB) error {
	if l.file == nil {
		return nil
	}
	err := syscall.Flock(int(l.file.Fd()), syscall.LOCK_UN)
	l.file.Close()
	l.file = nil
	return err
}
