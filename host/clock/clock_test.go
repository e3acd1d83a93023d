package clock_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/clock"
)

func TestOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	now, err := clock.Offset(path) // no file yet: the wall clock
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(now()); d > time.Second || d < -time.Second {
		t.Fatalf("without a file the clock is %v off", d)
	}
	if err := os.WriteFile(path, []byte("336h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Until(now()) < 335*time.Hour {
		if time.Now().After(deadline) {
			t.Fatalf("the offset was not read: %v", time.Until(now()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(path, []byte("not a duration"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if d := time.Until(now()); d < 335*time.Hour {
		t.Fatalf("a bad rewrite lost the offset: %v", d)
	}
	if _, err := clock.Offset(path); err == nil {
		t.Fatal("a file that holds no duration was accepted at start")
	}
}
