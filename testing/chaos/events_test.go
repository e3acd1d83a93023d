package chaos_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// recordTypes are the record types of the API.
var recordTypes = []string{"lead", "contact", "account", "opportunity", "activity"}

// checkEvents checks that the after-write events of every record write of
// the World reached the plugins (at least once, none lost): hello, active
// in both installs, counts each event of its install once by its id (a
// redelivery that comes before hello noted the id counts twice, so
// delivered may exceed written, never fall short), and a record's version
// is the number of its writes (its creation and each change; the chaos
// tests delete nothing). It waits for the deliveries retried after the
// fault, then checks that nothing was dropped.
func checkEvents(t *testing.T, w *world) {
	t.Helper()
	for _, in := range w.installs() {
		written := recordWrites(t, in.Admin)
		delivered := 0
		harness.Within(90*time.Second, func() bool {
			delivered = helloCount(t, in.Admin)
			return delivered >= written
		})
		t.Logf("events of %s: written %d, delivered to hello %d", in.Slug, written, delivered)
		if delivered < written {
			t.Errorf("events of %s: %d writes, hello was told of %d after 90 s: %d lost", in.Slug, written, delivered, written-delivered)
		}
	}
	if pending := outboxPending(t, w); pending > 0 {
		t.Logf("events still in the outbox, to be tried again (at least once): %d", pending)
	}
	if dropped := droppedEvents(w); len(dropped) > 0 {
		t.Errorf("the host gave up on %d events: %s", len(dropped), strings.Join(dropped, "\n"))
	}
}

// droppedEvents lists the events the host gave up on, as an operator sees
// them: the dead letters `crmguard outbox list` prints, and any line of
// the host's log that says an event was set aside or dropped. A chaos run
// must leave none.
func droppedEvents(w *world) []string {
	var out []string
	if list := w.CLI.Must("outbox", "list"); list != "no dead letters" {
		out = append(out, list)
	}
	for line := range strings.SplitSeq(w.Server.Log(), "\n") {
		var entry struct{ Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(entry.Msg, "outbox:") &&
			(strings.Contains(entry.Msg, "drop") || strings.Contains(entry.Msg, "dead letters")) {
			out = append(out, line)
		}
	}
	return out
}

// recordWrites adds up the versions of every record of an install, as its
// admin (who sees them all) lists them: the writes its records have had.
func recordWrites(t *testing.T, admin harness.Client) int {
	t.Helper()
	total := 0
	for _, typ := range recordTypes {
		cursor := ""
		for {
			var page struct {
				Items []struct {
					Version int `json:"version"`
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			r := admin.Must(200, "GET", "/v1/records/"+typ+"?limit=200&cursor="+url.QueryEscape(cursor), nil)
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatalf("list of %s: %v", typ, err)
			}
			for _, it := range page.Items {
				total += it.Version
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
	}
	return total
}

// helloCount is the number of write events hello has counted in the
// caller's install (GET /v1/plugins/hello/api/writes: counts by
// operation).
func helloCount(t *testing.T, c harness.Client) int {
	t.Helper()
	var body struct{ Writes map[string]int }
	if err := json.Unmarshal(c.Must(200, "GET", "/v1/plugins/hello/api/writes", nil).Body, &body); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range body.Writes {
		n += v
	}
	return n
}

// outboxPending counts the events left in the host's outbox, read from its
// database: the API does not show the outbox.
func outboxPending(t *testing.T, w *world) int {
	t.Helper()
	var n int
	if err := w.DB.QueryRow("SELECT COUNT(*) FROM crmguard_outbox").Scan(&n); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return n
}
