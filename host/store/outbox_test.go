package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

func TestOutboxDeadLetters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		// Four events: three of acme (two for hello, one for teams), one of
		// globex; the first holds a number no float64 holds.
		big := `{"n":1e400,"long":` + strings.Repeat("9", 400) + `}`
		events := []store.OutboxEvent{
			{ID: crm.NewID(), InstallID: f.install.ID, PluginID: "hello", Event: []byte(big)},
			{ID: crm.NewID(), InstallID: f.install.ID, PluginID: "teams", Event: []byte(`{}`)},
			{ID: crm.NewID(), InstallID: f.install.ID, PluginID: "hello", Event: []byte(`{`)},
			{ID: crm.NewID(), InstallID: f.otherInstall.ID, PluginID: "hello", Event: []byte(`{}`)},
		}
		for i := range events {
			events[i].CreatedAt, events[i].NextAt = t0, t0
		}
		if err := db.EnqueueEvents(ctx, events...); err != nil {
			t.Fatal(err)
		}
		due, err := db.DueEvents(ctx, t0, 10)
		if err != nil || len(due) != 4 || !due[0].RetryFrom.Equal(t0) || string(due[0].Event) != big {
			t.Fatalf("due: %+v, %v", due, err)
		}
		for _, e := range due {
			if ok, err := db.ClaimEvent(ctx, e, t0.Add(time.Minute)); !ok || err != nil {
				t.Fatalf("claim: %v, %v", ok, err)
			}
		}

		died := t0.Add(24 * time.Hour)
		for i, e := range events {
			b := store.Burial{Cause: "plugin hello: boom", At: died, Operation: "create", RecordType: "lead", RecordID: "r" + string(rune('0'+i))}
			if moved, err := db.BuryEvent(ctx, e.ID, b); !moved || err != nil {
				t.Fatalf("bury %d: %v, %v", i, moved, err)
			}
		}
		t.Run("BuryingMovesOnce", func(t *testing.T) {
			if moved, err := db.BuryEvent(ctx, events[0].ID, store.Burial{At: died}); moved || err != nil {
				t.Fatalf("a second burial: %v, %v", moved, err)
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events left in the outbox", n)
			}
		})
		t.Run("Listed", func(t *testing.T) {
			all, err := db.DeadLetters(ctx, store.DeadLetterQuery{Limit: 10})
			if err != nil || len(all) != 4 {
				t.Fatalf("all: %+v, %v", all, err)
			}
			d := all[0]
			if d.ID != events[0].ID || d.InstallSlug != "acme" || d.PluginID != "hello" || d.Attempts != 1 || d.LastError != "plugin hello: boom" ||
				!d.CreatedAt.Equal(t0) || !d.DiedAt.Equal(died) || d.Operation != "create" || d.RecordType != "lead" || d.RecordID != "r0" || d.Event != nil {
				t.Fatalf("first: %+v", d)
			}
			for _, c := range []struct {
				name string
				q    store.DeadLetterQuery
				want []string
			}{
				{"Install", store.DeadLetterQuery{InstallID: f.install.ID}, []string{events[0].ID, events[1].ID, events[2].ID}},
				{"Plugin", store.DeadLetterQuery{PluginID: "hello"}, []string{events[0].ID, events[2].ID, events[3].ID}},
				{"Both", store.DeadLetterQuery{InstallID: f.otherInstall.ID, PluginID: "hello"}, []string{events[3].ID}},
				{"After", store.DeadLetterQuery{After: events[1].ID}, []string{events[2].ID, events[3].ID}},
				{"Limit", store.DeadLetterQuery{Limit: 1}, []string{events[0].ID}},
				{"None", store.DeadLetterQuery{PluginID: "delegation"}, nil},
			} {
				if c.q.Limit == 0 {
					c.q.Limit = 10
				}
				page, err := db.DeadLetters(ctx, c.q)
				var got []string
				for _, d := range page {
					got = append(got, d.ID)
				}
				if err != nil || strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
				}
			}
			one, err := db.DeadLetter(ctx, events[0].ID)
			if err != nil || string(one.Event) != big || one.InstallSlug != "acme" {
				t.Fatalf("one: %+v, %v", one, err)
			}
			if _, err := db.DeadLetter(ctx, crm.NewID()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("an unknown one: %v", err)
			}
			counts, err := db.DeadLettersByPlugin(ctx)
			if err != nil || len(counts) != 2 || counts["hello"] != 3 || counts["teams"] != 1 {
				t.Fatalf("counts: %v, %v", counts, err)
			}
		})
		replayed := died.Add(time.Hour)
		t.Run("AReplayWithAnUnknownIDReplaysNothing", func(t *testing.T) {
			unknown := crm.NewID()
			missing, err := db.ReplayDeadLetters(ctx, []string{events[0].ID, unknown}, replayed)
			if err != nil || len(missing) != 1 || missing[0] != unknown {
				t.Fatalf("missing: %v, %v", missing, err)
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events in the outbox", n)
			}
			if _, err := db.DeadLetter(ctx, events[0].ID); err != nil {
				t.Fatalf("the known one is gone: %v", err)
			}
		})
		t.Run("AReplayPutsTheEventBackDueNow", func(t *testing.T) {
			missing, err := db.ReplayDeadLetters(ctx, []string{events[0].ID, events[3].ID, events[0].ID}, replayed)
			if err != nil || len(missing) != 0 {
				t.Fatalf("replay: %v, %v", missing, err)
			}
			due, err := db.DueEvents(ctx, replayed, 10)
			if err != nil || len(due) != 2 {
				t.Fatalf("due after the replay: %+v, %v", due, err)
			}
			e := due[0]
			if e.ID != events[0].ID || e.Attempts != 0 || e.LastError != "" || !e.NextAt.Equal(replayed) || !e.RetryFrom.Equal(replayed) ||
				!e.CreatedAt.Equal(t0) || string(e.Event) != big || e.PluginID != "hello" || e.InstallID != f.install.ID {
				t.Fatalf("replayed: %+v", e)
			}
			if _, err := db.DeadLetter(ctx, events[0].ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the replayed letter is still there: %v", err)
			}
			missing, err = db.ReplayDeadLetters(ctx, []string{events[0].ID}, replayed)
			if err != nil || len(missing) != 1 {
				t.Fatalf("a second replay: %v, %v", missing, err)
			}
			if n, _ := db.PendingEvents(ctx); n != 2 {
				t.Fatalf("%d events in the outbox after a second replay, want 2", n)
			}
		})
		t.Run("ConcurrentReplaysReplayOnce", func(t *testing.T) {
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				replays  int
				failures []error
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					missing, err := db.ReplayDeadLetters(ctx, []string{events[1].ID}, replayed)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failures = append(failures, err)
					} else if len(missing) == 0 {
						replays++
					}
				}()
			}
			wg.Wait()
			if replays != 1 || len(failures) > 0 {
				t.Fatalf("%d replays of one letter, errors %v", replays, failures)
			}
			if n, _ := db.PendingEvents(ctx); n != 3 {
				t.Fatalf("%d events in the outbox, want 3", n)
			}
		})
	})
}
