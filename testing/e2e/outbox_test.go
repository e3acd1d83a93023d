package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
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

// TestOutbox runs the real binary with the recorder plugin, on SQLite and
// MySQL. A record holding numbers no float64 holds goes through create,
// update and delete, and each event reaches the plugin with its numbers as
// written. Then the plugin fails: its events go to the dead letters once
// their retry window has passed (the clock moved by clock.offset_file), as
// the log and the metrics say; the command line and the operator API list
// them, and replay them once the plugin works again, each delivered once.
func TestOutbox(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "crmguard.db")
			if driver == "mysql" {
				dsn = storetest.MySQLDSN(t)
			}
			testOutbox(t, driver, dsn)
		})
	}
}

func testOutbox(t *testing.T, driver, dsn string) {
	const opToken = "op-e2e-0123456789abcdefghijklmnopqrstuvwxyz"
	offset := filepath.Join(t.TempDir(), "offset")
	// The recorder is the test plugin that keeps what its after-write hook
	// receives.
	c := harness.NewCLI(t, driver, dsn, "CRMGUARD_PLUGIN_DIR="+harness.PluginDir(t, "host/service/testdata/recorder"),
		"CRMGUARD_OPERATOR_TOKEN="+opToken, "CRMGUARD_OUTBOX_RETRY_FOR=1h", "CRMGUARD_CLOCK_OFFSET_FILE="+offset)
	c.CreateInstalls([]string{"acme"}, "alice")
	srv := c.Serve()
	admin, alice := c.Login(t, srv.Base, "acme", "admin@acme.test"), c.Login(t, srv.Base, "acme", "alice@acme.test")
	operator := harness.Client{T: t, Base: srv.Base, Token: opToken}
	admin.Must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": false})
	admin.Must(200, "POST", "/v1/plugins/recorder/activate", nil)

	deliveries := func() []delivery {
		t.Helper()
		var out []delivery
		if err := json.Unmarshal(alice.Must(200, "GET", "/v1/plugins/recorder/api/events", nil).Body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Numbers beyond float64, as a client writes them.
	huge, long := "1e400", "1"+strings.Repeat("234567890", 44)+"1"
	small := "-0." + strings.Repeat("0", 400) + "123456789123456789"
	body := json.RawMessage(`{"data":{"name":"Big","huge":` + huge + `,"long":` + long + `,"small":` + small + `}}`)
	created := alice.Must(201, "POST", "/v1/records/lead", body)
	var lead struct{ ID string }
	if err := json.Unmarshal(created.Body, &lead); err != nil || lead.ID == "" {
		t.Fatalf("create: %s", created.Body)
	}
	path := "/v1/records/lead/" + lead.ID
	for _, want := range []string{`"huge":1e400`, `"long":` + long, `"small":` + small} {
		if got := alice.Must(200, "GET", path, nil).Body; !bytes.Contains(got, []byte(want)) {
			t.Fatalf("the record read back lacks %s: %s", want, got)
		}
	}
	alice.Must(200, "PATCH", path, map[string]any{"data": map[string]any{"name": "Bigger"}})
	alice.Must(204, "DELETE", path, nil)
	harness.WaitFor(t, "three deliveries", 15*time.Second, func() bool { return len(deliveries()) == 3 })
	exact := map[string]string{"huge": "json.Number " + huge, "long": "json.Number " + long, "small": "json.Number " + small}
	for _, d := range deliveries() {
		var sides []map[string]string
		switch d.Operation {
		case "create":
			sides = []map[string]string{d.After}
		case "update":
			sides = []map[string]string{d.Before, d.After}
		case "delete":
			sides = []map[string]string{d.Before}
		}
		if d.RecordID != lead.ID || len(sides) == 0 {
			t.Fatalf("a delivery: %+v", d)
		}
		for _, fields := range sides {
			for k, want := range exact {
				if fields[k] != want {
					t.Errorf("%s: data.%s reached the plugin as %q, want %q", d.Operation, k, fields[k], want)
				}
			}
		}
	}

	// The plugin fails; two events wait, then die.
	admin.Must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": true})
	ada := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Ada"}}).Object(t)["id"].(string)
	bea := alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Bea"}}).Object(t)["id"].(string)
	harness.WaitFor(t, "a failed delivery", 15*time.Second, func() bool {
		return strings.Contains(srv.Log(), `"msg":"outbox: delivery failed; will retry","plugin":"recorder","install":"acme"`)
	})
	if strings.Contains(srv.Log(), "dead letters") {
		t.Fatal("an event went to the dead letters within its window")
	}
	if err := os.WriteFile(offset, []byte("2h"), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, "two dead letters", 15*time.Second, func() bool {
		return strings.Count(srv.Log(), `"msg":"outbox: event moved to the dead letters`) == 2
	})
	type letter struct {
		ID, Install, Plugin, Operation string
		LastError                      string `json:"last_error"`
		Record                         struct{ Type, ID string }
		Attempts                       int
	}
	var listed struct{ Items []letter }
	if err := json.Unmarshal(operator.Must(200, "GET", "/v1/admin/outbox/dead-letters?install=acme&plugin=recorder", nil).Body, &listed); err != nil {
		t.Fatal(err)
	}
	byRecord := map[string]letter{}
	for _, l := range listed.Items {
		byRecord[l.Record.ID] = l
	}
	for _, id := range []string{ada, bea} {
		l, ok := byRecord[id]
		if !ok || l.Install != "acme" || l.Plugin != "recorder" || l.Operation != "create" || l.Attempts < 2 || !strings.Contains(l.LastError, "recorder: told to fail") {
			t.Fatalf("the dead letter of %s: %+v (listed %+v)", id, l, listed.Items)
		}
		line := `"plugin":"recorder","install":"acme","event":"` + l.ID + `"`
		if !strings.Contains(srv.Log(), line) {
			t.Errorf("no log line names %s", line)
		}
	}
	for _, want := range []string{`crmguard_outbox_dead_letters_total{plugin="recorder"} 2`, `crmguard_outbox_dead_letters_waiting{plugin="recorder"} 2`} {
		if m := srv.Metrics(t); !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	list := c.Must("outbox", "list", "--install", "acme")
	for _, want := range []string{byRecord[ada].ID, byRecord[bea].ID, "lead/" + ada, "recorder: told to fail", "LAST ERROR"} {
		if !strings.Contains(list, want) {
			t.Fatalf("crmguard outbox list lacks %q:\n%s", want, list)
		}
	}
	if out, errOut, code := c.Run("outbox", "list", "--plugin", "hello"); code != 0 || out != "no dead letters\n" {
		t.Fatalf("crmguard outbox list --plugin hello: exit %d:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := c.Run("outbox", "replay", "01J0000000000000000000000X"); code != 1 || !strings.Contains(errOut, "no dead letter 01J0000000000000000000000X") {
		t.Fatalf("replay of an unknown letter: exit %d: %s", code, errOut)
	}
	if r := operator.Must(404, "POST", "/v1/admin/outbox/dead-letters/01J0000000000000000000000X/replay", nil); r.ErrorCode() != "unknown_dead_letter" {
		t.Fatalf("replay of an unknown letter: %s", r.Body)
	}

	// Fixed, the plugin takes the replayed events, once each.
	admin.Must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": false})
	if out, errOut, code := c.Run("outbox", "replay", byRecord[ada].ID); code != 0 || out != "replayed 1 dead letter\n" {
		t.Fatalf("crmguard outbox replay: exit %d: %s%s", code, out, errOut)
	}
	operator.Must(200, "POST", "/v1/admin/outbox/dead-letters/"+byRecord[bea].ID+"/replay", nil)
	harness.WaitFor(t, "the replayed events", 15*time.Second, func() bool { return len(deliveries()) == 5 })
	seen := map[string]int{}
	for _, d := range deliveries() {
		seen[d.ID]++
	}
	for _, id := range []string{ada, bea} {
		if l := byRecord[id]; seen[l.ID] != 1 {
			t.Errorf("event %s was delivered %d times after its replay", l.ID, seen[l.ID])
		}
	}
	if out, errOut, code := c.Run("outbox", "list"); code != 0 || out != "no dead letters\n" {
		t.Fatalf("dead letters after the replay: exit %d:\n%s%s", code, out, errOut)
	}
	if m := srv.Metrics(t); !strings.Contains(m, `crmguard_outbox_dead_letters_waiting{plugin="recorder"} 0`+"\n") {
		t.Error("the gauge still counts replayed letters")
	}
	srv.Stop(t)
}
