// Package clock gives the host its time: the wall clock, or the wall clock
// moved by an offset read from a file, so that an operator (or a test) can
// rehearse what happens when delegations and other grants expire without
// waiting for them, on every replica that reads the same file.
package clock

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// reread is how long an offset read from the file is used before the file
// is read again.
const reread = 100 * time.Millisecond

// Offset returns a clock that is the wall clock plus the duration written
// in the file at path ("336h", "-90s"; a missing or empty file is no
// offset). It checks the file once and fails if its content is not a
// duration; later reads that fail keep the last offset.
func Offset(path string) (func() time.Time, error) {
	o := &offsetFile{path: path}
	if err := o.read(time.Now()); err != nil {
		return nil, err
	}
	return o.now, nil
}

type offsetFile struct {
	path   string
	mu     sync.Mutex
	offset time.Duration
	readAt time.Time
}

func (o *offsetFile) now() time.Time {
	wall := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if wall.Sub(o.readAt) >= reread {
		_ = o.read(wall) // a file being rewritten keeps the last offset
	}
	return wall.Add(o.offset)
}

func (o *offsetFile) read(wall time.Time) error {
	raw, err := os.ReadFile(o.path)
	if os.IsNotExist(err) {
		raw, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("clock offset file: %w", err)
	}
	text := strings.TrimSpace(string(raw))
	offset := time.Duration(0)
	if text != "" {
		if offset, err = time.ParseDuration(text); err != nil {
			return fmt.Errorf("clock offset file %s: %q is not a duration like 336h or -90s", o.path, text)
		}
	}
	o.offset, o.readAt = offset, wall
	return nil
}
