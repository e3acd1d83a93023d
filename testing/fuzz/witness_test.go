package fuzz

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// The witness of after-write events is plugins/hello: it counts each
// install's record writes, by operation, from the events the host
// delivers it (GET /v1/plugins/hello/api/writes), each event once. The
// fuzzer counts the writes it made that answered 2xx; once the outbox has
// delivered, the two must agree.

// writeOf tells which record write a request is, by its method and its
// path as the server reads it (escapes decoded): "create", "reassign",
// "update" (PATCH), "assign" (PUT .../owner), "delete" or "move" (the
// teams plugin's), with the record type and id it names; "" for none.
func writeOf(q *request) (op, typ, id string) {
	p := strings.Split(decodedSegment(q.path()), "/")
	if len(p) >= 4 && p[1] == "v1" && p[2] == "records" {
		typ = p[3]
		if len(p) >= 5 {
			id = p[4]
		}
	}
	switch {
	case typ == "":
		// /v1/plugins/teams/api/records/{type}/move
		if len(p) == 8 && q.method == "POST" && strings.Join(p[:6], "/") == "/v1/plugins/teams/api/records" && p[7] == "move" {
			return "move", p[6], ""
		}
		return "", "", ""
	case len(p) == 4 && q.method == "POST" && strings.HasSuffix(typ, ":reassign"):
		return "reassign", typ, ""
	case len(p) == 4 && q.method == "POST":
		return "create", typ, ""
	case len(p) == 5 && q.method == "PATCH":
		return "update", typ, id
	case len(p) == 5 && q.method == "DELETE":
		return "delete", typ, id
	case len(p) == 6 && q.method == "PUT" && p[5] == "owner":
		return "assign", typ, id
	}
	return "", "", ""
}

// versionBefore is, for a change of one record (PATCH, PUT .../owner),
// the record's version as the caller sees it just before: an answer that
// gives the same version changed nothing and made no event. -1 when the
// caller cannot read it.
func (f *fuzzer) versionBefore(q *request) int64 {
	op, typ, id := writeOf(q)
	c := q.in.client(q.who)
	if op != "update" && op != "assign" || c.Token == "" {
		return -1
	}
	path := "/v1/records/" + url.PathEscape(typ) + "/" + url.PathEscape(id)
	rep := f.bookkeep(c, "GET", path)
	for range 50 { // a plugin that is restarting answers 503 for a moment
		if rep.status != 503 {
			break
		}
		time.Sleep(100 * time.Millisecond)
		rep = f.bookkeep(c, "GET", path)
	}
	if rep.status != 200 {
		return -1
	}
	v, _ := rep.object()["version"].(float64)
	return int64(v)
}

// countWrite counts the record writes a 2xx answer made, by the operation
// its after-write events carry.
func (f *fuzzer) countWrite(q *request, rep reply, pre int64) {
	op, typ, id := writeOf(q)
	writes := q.in.writes
	switch op {
	case "create":
		if rep.status == 201 {
			writes["create"]++
		}
	case "delete":
		if rep.status == 204 {
			writes["delete"]++
			q.in.forget(typ, id)
		}
	case "reassign":
		writes["assign"] += int(numberOf(rep.object()["reassigned"]))
	case "move":
		writes["update"] += int(numberOf(rep.object()["moved"]))
	case "update", "assign":
		switch v := numberOf(rep.object()["version"]); {
		case pre < 0:
			f.fail("a change of a record the caller could not read", q, "answered %d %s", rep.status, clip(string(rep.body), 200))
		case v > pre:
			writes[op]++
		}
	}
}

func numberOf(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}

// helloWrites is the install's write counts as plugins/hello has them.
func (f *fuzzer) helloWrites(in *installState) map[string]int {
	rep := f.bookkeep(in.in.Admin, "GET", "/v1/plugins/hello/api/writes")
	var body struct{ Writes map[string]int }
	if rep.status != 200 || json.Unmarshal(rep.body, &body) != nil {
		f.t.Fatalf("%s: GET /v1/plugins/hello/api/writes: %d %s", in.slug, rep.status, rep.body)
	}
	return body.Writes
}

// witnessBaseline waits until hello has counted the World's own records,
// created when it was active, and starts the fuzzer's counts from there.
func (f *fuzzer) witnessBaseline() {
	for _, in := range []*installState{f.a, f.b} {
		records := 0
		for _, ids := range in.records {
			records += len(ids)
		}
		harness.WaitFor(f.t, in.slug+": hello counts the World's records", 30*time.Second, func() bool {
			return f.helloWrites(in)["create"] == records
		})
		in.writes = f.helloWrites(in)
	}
}

// checkWitness waits until hello has been told of every write, or until
// nothing is left to tell it (the outbox empty and its counts still),
// then compares the writes made with the events hello was given.
func (f *fuzzer) checkWitness() {
	db, err := sql.Open(f.w.Driver, f.w.DSN)
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	var got [2]map[string]int
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		was := got
		done := true
		for k, in := range []*installState{f.a, f.b} {
			got[k] = f.helloWrites(in)
			done = done && maps.Equal(nonZero(got[k]), nonZero(in.writes))
		}
		still := i > 0 && maps.Equal(was[0], got[0]) && maps.Equal(was[1], got[1])
		if done || still && len(f.pendingEvents(db)) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for k, in := range []*installState{f.a, f.b} {
		f.t.Logf("%s: record writes %v, events delivered to hello %v", in.slug, nonZero(in.writes), nonZero(got[k]))
		for _, op := range slices.Sorted(maps.Keys(merge(got[k], in.writes))) {
			if got[k][op] != in.writes[op] {
				f.failIn("record writes and the events plugins/hello was given differ", in.slug, nil, "%d %s writes answered 2xx, hello was told of %d", in.writes[op], op, got[k][op])
			}
		}
	}
	// An event still waiting is one not delivered, of any plugin, and a
	// dead letter (an event set aside after its retries, or unreadable:
	// `crmguard outbox list`) one the host gave up on.
	for plugin, p := range f.pendingEvents(db) {
		f.failIn("events not delivered", "plugin "+plugin, nil, "%d events still in the outbox, after up to %d attempts: %s", p.n, p.attempts, p.lastError)
	}
	if list := f.w.CLI.Must("outbox", "list"); list != "no dead letters" {
		f.failIn("events given up on", "dead letters", nil, "crmguard outbox list:\n%s", list)
	}
}

// pending is what waits in the outbox for one plugin.
type pending struct {
	n, attempts int
	lastError   string
}

// pendingEvents reads the outbox: the events not delivered yet, by plugin.
func (f *fuzzer) pendingEvents(db *sql.DB) map[string]pending {
	rows, err := db.Query("SELECT plugin_id, COUNT(*), MAX(attempts), MAX(last_error) FROM crmguard_outbox GROUP BY plugin_id")
	if err != nil {
		f.t.Fatalf("outbox: %v", err)
	}
	defer rows.Close()
	out := map[string]pending{}
	for rows.Next() {
		var plugin string
		var p pending
		if err := rows.Scan(&plugin, &p.n, &p.attempts, &p.lastError); err != nil {
			f.t.Fatal(err)
		}
		out[plugin] = p
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func merge(a, b map[string]int) map[string]int {
	out := maps.Clone(a)
	for k, v := range b {
		out[k] += v
	}
	return out
}

// statusTable is the requests by route and status, a line a route, and
// the totals by status.
func statusTable(byRoute map[string]map[int]int) string {
	var b strings.Builder
	totals := map[int]int{}
	for _, name := range slices.Sorted(maps.Keys(byRoute)) {
		var parts []string
		n := 0
		for _, status := range slices.Sorted(maps.Keys(byRoute[name])) {
			c := byRoute[name][status]
			parts = append(parts, fmt.Sprintf("%d×%d", c, status))
			totals[status] += c
			n += c
		}
		fmt.Fprintf(&b, "  %-58s %5d  %s\n", name, n, strings.Join(parts, " "))
	}
	var parts []string
	for _, status := range slices.Sorted(maps.Keys(totals)) {
		parts = append(parts, fmt.Sprintf("%d×%d", totals[status], status))
	}
	fmt.Fprintf(&b, "  by status: %s\n", strings.Join(parts, " "))
	return b.String()
}
