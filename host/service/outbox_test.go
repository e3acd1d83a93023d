package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// recorderPackage keeps what its after-write hook receives.
const recorderPackage = "github.com/crmguard/crmguard/host/service/testdata/recorder"

// Numbers no float64 holds: too large, too long, too small.
var (
	hugeNumber  = json.Number("1e400")
	longNumber  = json.Number("1" + strings.Repeat("234567890", 44) + "1")
	smallNumber = json.Number("-0." + strings.Repeat("0", 400) + "123456789123456789")
)

// delivery is one call of the recorder's after-write hook, each data field
// as "GoType text".
type delivery struct {
	ID        string
	Operation string
	RecordID  string `json:"record_id"`
	Before    map[string]string
	After     map[string]string
}

// recorded reads the deliveries the recorder plugin received in p's
// install.
func recorded(t *testing.T, svc *service.Service, p crm.Principal) []delivery {
	t.Helper()
	resp, err := svc.PluginHTTP(context.Background(), p, "recorder", service.PluginRequest{Method: "GET", Path: "/events"})
	if err != nil || resp.Status != 200 {
		t.Fatalf("GET /events: %+v, %v", resp, err)
	}
	var out []delivery
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// activate turns a plugin on for the admin's install, with settings.
func activate(t *testing.T, w world, id, settings string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, id, json.RawMessage(settings)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetPluginActive(ctx, w.admin, id, true); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxKeepsNumbersExact writes a record whose data holds numbers
// beyond float64 and follows its events to a real plugin: each is
// delivered, with the numbers as written.
func TestOutboxKeepsNumbersExact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &testClock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
		w := newWorld(t, db, service.WithClock(clock.now))
		withPlugins(t, w.svc, recorderPackage)
		activate(t, w, "recorder", `{"fail":false}`)

		data := map[string]any{"name": "Big", "huge": hugeNumber, "long": longNumber, "small": smallNumber}
		lead, err := w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: data, OwnerID: w.alice.User.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"name": "string Big", "huge": "json.Number " + string(hugeNumber),
			"long": "json.Number " + string(longNumber), "small": "json.Number " + string(smallNumber)}
		resp, err := w.svc.PluginHTTP(ctx, w.alice, "recorder", service.PluginRequest{Method: "GET", Path: "/records/lead/" + lead.ID})
		if err != nil || resp.Status != 200 {
			t.Fatalf("the record through the host API: %+v, %v", resp, err)
		}
		var read map[string]string
		if err := json.Unmarshal(resp.Body, &read); err != nil || !sameFields(read, want) {
			t.Fatalf("the host API gave the plugin %v (%v), want %v", read, err, want)
		}
		if _, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("Bigger"), 0); err != nil {
			t.Fatal(err)
		}
		if err := w.svc.DeleteRecord(ctx, w.alice, crm.TypeLead, lead.ID, 0); err != nil {
			t.Fatal(err)
		}
		w.svc.DeliverDue(ctx)

		got := recorded(t, w.svc, w.alice)
		if len(got) != 3 {
			t.Fatalf("%d deliveries, want create, update and delete: %+v", len(got), got)
		}
		renamed := map[string]string{}
		for k, v := range want {
			renamed[k] = v
		}
		renamed["name"] = "string Bigger"
		byOp := map[string]delivery{}
		for _, d := range got {
			byOp[d.Operation] = d
		}
		for _, c := range []struct {
			op            string
			before, after map[string]string
		}{
			{"create", nil, want},
			{"update", want, renamed},
			{"delete", renamed, nil},
		} {
			d := byOp[c.op]
			if d.RecordID != lead.ID || !sameFields(d.Before, c.before) || !sameFields(d.After, c.after) {
				t.Errorf("%s delivered %+v, want before %v and after %v", c.op, d, c.before, c.after)
			}
		}
		if n, _ := db.PendingEvents(ctx); n != 0 {
			t.Fatalf("%d events left", n)
		}
	})
}

func sameFields(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// logBuffer keeps what a logger writes, for tests to read while it writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines whose message starts with msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(b.buf.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(fmt.Sprint(entry["msg"]), msg) {
			out = append(out, entry)
		}
	}
	return out
}

// metric returns the value of a metric with one label, -1 when it is
// not there.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestOutboxDeadLetters follows events that are not delivered: one whose
// plugin keeps failing is retried through its window, then goes to the
// dead letters, counted and logged, and is delivered once replayed after
// the plugin is fixed; one that cannot be read goes there at once.
func TestOutboxDeadLetters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &testClock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
		logs, reg := &logBuffer{}, prometheus.NewRegistry()
		w := newWorld(t, db, service.WithClock(clock.now), service.WithOutboxRetry(time.Hour),
			service.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), service.WithRegistry(reg))
		withPlugins(t, w.svc, recorderPackage)
		activate(t, w, "recorder", `{"fail":true}`)
		const buried = "outbox: event moved to the dead letters"
		deadLetters := func(f service.DeadLetterFilter) []store.DeadLetter {
			t.Helper()
			letters, next, err := w.svc.DeadLetters(ctx, service.DeadLetterQuery{DeadLetterFilter: f})
			if err != nil || next != "" {
				t.Fatalf("dead letters: %v, %q", err, next)
			}
			return letters
		}

		lead := w.create(t, w.alice, crm.TypeLead, "Ada", w.alice.User.ID, nil)
		var event string
		t.Run("ItIsRetriedThroughItsWindow", func(t *testing.T) {
			w.svc.DeliverDue(ctx)
			for range 5 { // at 10, 20 … 50 minutes
				clock.add(10 * time.Minute)
				w.svc.DeliverDue(ctx)
			}
			if n, _ := db.PendingEvents(ctx); n != 1 || len(deadLetters(service.DeadLetterFilter{})) != 0 {
				t.Fatalf("%d events pending within the window, want 1 and no dead letter", n)
			}
			if got := metric(t, reg, "crmguard_outbox_dead_letters_waiting", "plugin", "recorder"); got != 0 {
				t.Fatalf("dead letters waiting: %v, want 0", got)
			}
		})
		t.Run("ThenItGoesToTheDeadLetters", func(t *testing.T) {
			clock.add(10 * time.Minute) // the window's end: one last attempt
			w.svc.DeliverDue(ctx)
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events pending after the window", n)
			}
			letters := deadLetters(service.DeadLetterFilter{Install: "acme", Plugin: "recorder"})
			if len(letters) != 1 {
				t.Fatalf("%d dead letters, want 1", len(letters))
			}
			d := letters[0]
			event = d.ID
			if d.InstallSlug != "acme" || d.PluginID != "recorder" || d.Operation != "create" || d.RecordType != "lead" || d.RecordID != lead.ID ||
				d.Attempts != 7 || !strings.Contains(d.LastError, "recorder: told to fail") || !d.DiedAt.Equal(clock.now()) || !d.CreatedAt.Equal(lead.CreatedAt) {
				t.Fatalf("the dead letter: %+v", d)
			}
			if got := metric(t, reg, "crmguard_outbox_dead_letters_total", "plugin", "recorder"); got != 1 {
				t.Fatalf("crmguard_outbox_dead_letters_total: %v, want 1", got)
			}
			if got := metric(t, reg, "crmguard_outbox_dead_letters_waiting", "plugin", "recorder"); got != 1 {
				t.Fatalf("crmguard_outbox_dead_letters_waiting: %v, want 1", got)
			}
			lines := logs.lines(buried)
			if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["plugin"] != "recorder" || lines[0]["install"] != "acme" ||
				lines[0]["event"] != event || lines[0]["record_id"] != lead.ID {
				t.Fatalf("the log says %v", lines)
			}
			full, err := w.svc.DeadLetter(ctx, event)
			if err != nil || !strings.Contains(string(full.Event), `"name":"Ada"`) {
				t.Fatalf("the dead letter's event: %s, %v", full.Event, err)
			}
			for _, f := range []service.DeadLetterFilter{{Install: "globex"}, {Plugin: "hello"}} {
				if got := deadLetters(f); len(got) != 0 {
					t.Fatalf("filtered by %+v: %+v", f, got)
				}
			}
			_, _, err = w.svc.DeadLetters(ctx, service.DeadLetterQuery{DeadLetterFilter: service.DeadLetterFilter{Install: "nope"}})
			wantCode(t, err, "unknown_install")
		})
		t.Run("AnUnknownLetterIsNotFoundAndNothingIsReplayed", func(t *testing.T) {
			wantCode(t, w.svc.ReplayDeadLetters(ctx, []string{event, crm.NewID()}), "unknown_dead_letter")
			_, err := w.svc.DeadLetter(ctx, crm.NewID())
			wantCode(t, err, "unknown_dead_letter")
			if n, _ := db.PendingEvents(ctx); n != 0 || len(deadLetters(service.DeadLetterFilter{})) != 1 {
				t.Fatalf("a refused replay moved something: %d pending", n)
			}
		})
		t.Run("AReplayIsDeliveredOnceThePluginWorks", func(t *testing.T) {
			activate(t, w, "recorder", `{"fail":false}`)
			if err := w.svc.ReplayDeadLetters(ctx, []string{event}); err != nil {
				t.Fatal(err)
			}
			if len(deadLetters(service.DeadLetterFilter{})) != 0 {
				t.Fatal("the replayed letter is still there")
			}
			w.svc.DeliverDue(ctx) // due at once, whatever its backoff was
			got := recorded(t, w.svc, w.alice)
			if len(got) != 1 || got[0].ID != event || got[0].RecordID != lead.ID || got[0].Operation != "create" {
				t.Fatalf("deliveries after the replay: %+v", got)
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events pending after the delivery", n)
			}
			if got := metric(t, reg, "crmguard_outbox_dead_letters_waiting", "plugin", "recorder"); got != 0 {
				t.Fatalf("dead letters waiting after the replay: %v", got)
			}
			if len(logs.lines("outbox: dead letters replayed by the operator")) != 1 {
				t.Fatal("the replay is not in the log")
			}
		})
		t.Run("AReplayedEventHasAFreshWindow", func(t *testing.T) {
			activate(t, w, "recorder", `{"fail":true}`)
			w.create(t, w.alice, crm.TypeLead, "Bea", w.alice.User.ID, nil)
			clock.add(2 * time.Hour) // past its window: it goes at its first attempt
			w.svc.DeliverDue(ctx)
			letters := deadLetters(service.DeadLetterFilter{})
			if len(letters) != 1 || letters[0].Attempts != 1 {
				t.Fatalf("dead letters: %+v", letters)
			}
			if err := w.svc.ReplayDeadLetters(ctx, []string{letters[0].ID}); err != nil {
				t.Fatal(err)
			}
			w.svc.DeliverDue(ctx) // fails again, within its new window
			if n, _ := db.PendingEvents(ctx); n != 1 || len(deadLetters(service.DeadLetterFilter{})) != 0 {
				t.Fatalf("a replayed event went straight back to the dead letters (%d pending)", n)
			}
			clock.add(time.Hour)
			w.svc.DeliverDue(ctx)
			if got := deadLetters(service.DeadLetterFilter{}); len(got) != 1 || got[0].Attempts != 2 || !got[0].CreatedAt.Before(got[0].DiedAt.Add(-2*time.Hour)) {
				t.Fatalf("dead letters after the new window: %+v", got)
			}
		})
		t.Run("AnUnreadableEventGoesAtOnce", func(t *testing.T) {
			bad := store.OutboxEvent{ID: crm.NewID(), InstallID: w.alice.Install.ID, PluginID: "recorder", Event: []byte(`{"install":`),
				NextAt: clock.now(), CreatedAt: clock.now()}
			empty := bad
			empty.ID, empty.Event = crm.NewID(), []byte(`{"operation":"create"}`)
			if err := db.EnqueueEvents(ctx, bad, empty); err != nil {
				t.Fatal(err)
			}
			w.svc.DeliverDue(ctx)
			byID := map[string]store.DeadLetter{}
			for _, d := range deadLetters(service.DeadLetterFilter{}) {
				byID[d.ID] = d
			}
			for _, c := range []struct{ id, cause string }{
				{bad.ID, "the event cannot be read: unexpected EOF"},
				{empty.ID, "the event cannot be read: it names no operation or record"},
			} {
				d, ok := byID[c.id]
				if !ok || d.Attempts != 1 || d.LastError != c.cause || d.Operation != "" && c.id == bad.ID {
					t.Errorf("dead letter %s: %+v", c.id, d)
				}
			}
			if got := metric(t, reg, "crmguard_outbox_dead_letters_total", "plugin", "recorder"); got != 5 { // Ada's, Bea's twice, these two
				t.Fatalf("crmguard_outbox_dead_letters_total: %v, want 5", got)
			}
			if lines := logs.lines(buried); len(lines) != 5 || lines[3]["install"] != "acme" || lines[3]["event"] != bad.ID {
				t.Fatalf("the log says %v", lines)
			}
		})
		t.Run("AllOfAFilterAreReplayed", func(t *testing.T) {
			activate(t, w, "recorder", `{"fail":false}`)
			n, err := w.svc.ReplayAllDeadLetters(ctx, service.DeadLetterFilter{Install: "globex"})
			if err != nil || n != 0 {
				t.Fatalf("replay of globex's: %d, %v", n, err)
			}
			n, err = w.svc.ReplayAllDeadLetters(ctx, service.DeadLetterFilter{Install: "acme", Plugin: "recorder"})
			if err != nil || n != 3 || len(deadLetters(service.DeadLetterFilter{})) != 0 {
				t.Fatalf("replay of acme's: %d, %v", n, err)
			}
			w.svc.DeliverDue(ctx) // Bea's event is delivered, the unreadable ones go back
			if got := recorded(t, w.svc, w.alice); len(got) != 2 || got[1].Operation != "create" {
				t.Fatalf("deliveries: %+v", got)
			}
			if got := deadLetters(service.DeadLetterFilter{}); len(got) != 2 {
				t.Fatalf("dead letters: %+v", got)
			}
		})
	})
}

func TestOutboxRetryMustBePositive(t *testing.T) {
	if _, err := service.New(storetest.SQLite(t), service.WithOutboxRetry(0)); err == nil {
		t.Fatal("a service without a retry window was built")
	}
}
