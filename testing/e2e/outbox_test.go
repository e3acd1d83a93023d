package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
)

// recorderDir returns a plugin directory holding a fresh build of the
// recorder, the test plugin that keeps what its after-write hook receives
// (host/service/testdata/recorder).
func recorderDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "recorder"), "./host/service/testdata/recorder")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the recorder: %v\n%s", err, out)
	}
	return dir
}

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
			testOutbox(t, newCLI(t, driver, dsn))
		})
	}
}

func testOutbox(t *testing.T, c cli) {
	const opToken = "op-e2e-0123456789abcdefghijklmnopqrstuvwxyz"
	offset := filepath.Join(t.TempDir(), "offset")
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+recorderDir(t), "CRMGUARD_OPERATOR_TOKEN="+opToken,
		"CRMGUARD_OUTBOX_RETRY_FOR=1h", "CRMGUARD_CLOCK_OFFSET_FILE="+offset)
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "admin@acme.test", "--role", "admin")
	c.must("user", "create", "--install", "acme", "--email", "alice@acme.test")
	srv := c.serve()
	login := func(email string) user {
		return user{t: t, base: srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", "acme", "--email", email))}
	}
	admin, alice := login("admin@acme.test"), login("alice@acme.test")
	operator := user{t: t, base: srv.base, token: opToken}
	admin.must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": false})
	admin.must(200, "POST", "/v1/plugins/recorder/activate", nil)

	deliveries := func() []delivery {
		t.Helper()
		var out []delivery
		if err := json.Unmarshal(alice.must(200, "GET", "/v1/plugins/recorder/api/events", nil).Body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Numbers beyond float64, as a client writes them.
	huge, long := "1e400", "1"+strings.Repeat("234567890", 44)+"1"
	small := "-0." + strings.Repeat("0", 400) + "123456789123456789"
	body := json.RawMessage(`{"data":{"name":"Big","huge":` + huge + `,"long":` + long + `,"small":` + small + `}}`)
	created := alice.must(201, "POST", "/v1/records/lead", body)
	var lead struct{ ID string }
	if err := json.Unmarshal(created.Body, &lead); err != nil || lead.ID == "" {
		t.Fatalf("create: %s", created.Body)
	}
	path := "/v1/records/lead/" + lead.ID
	for _, want := range []string{`"huge":1e400`, `"long":` + long, `"small":` + small} {
		if got := alice.must(200, "GET", path, nil).Body; !bytes.Contains(got, []byte(want)) {
			t.Fatalf("the record read back lacks %s: %s", want, got)
		}
	}
	alice.must(200, "PATCH", path, map[string]any{"data": map[string]any{"name": "Bigger"}})
	alice.must(204, "DELETE", path, nil)
	waitFor(t, "three deliveries", func() bool { return len(deliveries()) == 3 })
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
	admin.must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": true})
	ada := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Ada"}}).object(t)["id"].(string)
	bea := alice.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Bea"}}).object(t)["id"].(string)
	waitFor(t, "a failed delivery", func() bool {
		return strings.Contains(srv.log(), `"msg":"outbox: delivery failed; will retry","plugin":"recorder","install":"acme"`)
	})
	if strings.Contains(srv.log(), "dead letters") {
		t.Fatal("an event went to the dead letters within its window")
	}
	if err := os.WriteFile(offset, []byte("2h"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two dead letters", func() bool {
		return strings.Count(srv.log(), `"msg":"outbox: event moved to the dead letters`) == 2
	})
	type letter struct {
		ID, Install, Plugin, Operation string
		LastError                      string `json:"last_error"`
		Record                         struct{ Type, ID string }
		Attempts                       int
	}
	var listed struct{ Items []letter }
	if err := json.Unmarshal(operator.must(200, "GET", "/v1/admin/outbox/dead-letters?install=acme&plugin=recorder", nil).Body, &listed); err != nil {
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
		if !strings.Contains(srv.log(), line) {
			t.Errorf("no log line names %s", line)
		}
	}
	for _, want := range []string{`crmguard_outbox_dead_letters_total{plugin="recorder"} 2`, `crmguard_outbox_dead_letters_waiting{plugin="recorder"} 2`} {
		if m := metrics(t, srv.base); !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	list := c.must("outbox", "list", "--install", "acme")
	for _, want := range []string{byRecord[ada].ID, byRecord[bea].ID, "lead/" + ada, "recorder: told to fail", "LAST ERROR"} {
		if !strings.Contains(list, want) {
			t.Fatalf("crmguard outbox list lacks %q:\n%s", want, list)
		}
	}
	if out := c.must("outbox", "list", "--plugin", "hello"); out != "no dead letters\n" {
		t.Fatalf("crmguard outbox list --plugin hello:\n%s", out)
	}
	if _, errOut, code := c.run("outbox", "replay", "01J0000000000000000000000X"); code != 1 || !strings.Contains(errOut, "no dead letter 01J0000000000000000000000X") {
		t.Fatalf("replay of an unknown letter: exit %d: %s", code, errOut)
	}
	if r := operator.must(404, "POST", "/v1/admin/outbox/dead-letters/01J0000000000000000000000X/replay", nil); r.code(t) != "unknown_dead_letter" {
		t.Fatalf("replay of an unknown letter: %s", r.Body)
	}

	// Fixed, the plugin takes the replayed events, once each.
	admin.must(200, "PUT", "/v1/plugins/recorder/settings", map[string]any{"fail": false})
	if out := c.must("outbox", "replay", byRecord[ada].ID); out != "replayed 1 dead letter\n" {
		t.Fatalf("crmguard outbox replay: %s", out)
	}
	operator.must(200, "POST", "/v1/admin/outbox/dead-letters/"+byRecord[bea].ID+"/replay", nil)
	waitFor(t, "the replayed events", func() bool { return len(deliveries()) == 5 })
	seen := map[string]int{}
	for _, d := range deliveries() {
		seen[d.ID]++
	}
	for _, id := range []string{ada, bea} {
		if l := byRecord[id]; seen[l.ID] != 1 {
			t.Errorf("event %s was delivered %d times after its replay", l.ID, seen[l.ID])
		}
	}
	if out := c.must("outbox", "list"); out != "no dead letters\n" {
		t.Fatalf("dead letters after the replay:\n%s", out)
	}
	if m := metrics(t, srv.base); !strings.Contains(m, `crmguard_outbox_dead_letters_waiting{plugin="recorder"} 0`+"\n") {
		t.Error("the gauge still counts replayed letters")
	}
	srv.stop(t)
}

// metrics returns what /metrics says.
func metrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}
