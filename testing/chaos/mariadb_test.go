package chaos_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestDatabaseRestart stops the host's MariaDB cleanly, then kills it with
// SIGKILL, each time under concurrent If-Match writes from members and
// managers of both installs, and starts it again. While it is down the
// host answers only 503s (never a 500); it recovers by itself, the same
// process; every write it acknowledged is in the database afterwards,
// whole (each record's data written with its version), and no concurrent
// If-Match update was lost.
func TestDatabaseRestart(t *testing.T) {
	m := harness.StartMariaDB(t)
	clock := filepath.Join(t.TempDir(), "clock-offset")
	w := newWorld(t, m.CreateDatabase(t, "crmguard"), "CRMGUARD_CLOCK_OFFSET_FILE="+clock)
	pid := w.Server.Pid()

	var writers []*recordWriter
	var counters []*counterWriter
	for _, in := range w.installs() {
		writers = append(writers, newRecordWriter(in.Slug+"/alice", in.Alice), newRecordWriter(in.Slug+"/bob", in.Bob))
		id := in.Manager.Must(201, "POST", "/v1/records/opportunity", map[string]any{
			"data": map[string]any{"name": "Counter of " + in.Slug, "v": 1, "count": 0}, "owner_id": in.Manager.ID}).ID(t)
		counters = append(counters, &counterWriter{name: in.Slug + "/carol", c: in.Manager, id: id},
			&counterWriter{name: in.Slug + "/admin", c: in.Admin, id: id})
	}

	faults := []struct {
		name string
		down func(testing.TB)
	}{
		{"stopped", m.Stop}, // SIGTERM: connections closed by the server
		{"killed", m.Kill},  // SIGKILL: a crash, InnoDB recovery at start
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			tl := newTally("unavailable", "plugin_unavailable")
			var steps []func()
			for _, wr := range writers {
				steps = append(steps, func() { wr.step(tl) })
			}
			for _, cw := range counters {
				steps = append(steps, func() { cw.step(tl) })
			}
			l := startLoad(steps...)
			time.Sleep(time.Second)
			downAt := time.Now()
			fault.down(t)
			time.Sleep(2 * time.Second) // the outage, under load
			startAt := time.Now()
			m.Start(t)
			backAt := time.Now()
			recovery := tl.waitFirstWriteAfter(t, backAt, 30*time.Second)
			time.Sleep(time.Second)
			l.stop()
			t.Logf("database %s: down for %s (it started again in %s); first write acknowledged %s after it was back",
				fault.name, seconds(backAt.Sub(downAt)), seconds(backAt.Sub(startAt)), seconds(recovery))
			t.Logf("database %s: requests by status: %s", fault.name, tl)
			tl.check(t, "answers while the database was "+fault.name)
			if tl.unavailable() == 0 {
				t.Errorf("no request got a 503 while the database was %s: the load did not reach the outage", fault.name)
			}
		})
	}

	if w.Server.Exited() || w.Server.Pid() != pid {
		t.Fatal("the host did not survive the database's restarts")
	}
	t.Logf("the host, process %d, served throughout: never restarted", pid)
	t.Run("acknowledged writes", func(t *testing.T) {
		records, writes, found := 0, 0, 0
		for _, wr := range writers {
			r, w, f := wr.verify(t)
			records, writes, found = records+r, writes+w, found+f
		}
		t.Logf("acknowledged: %d records with %d writes (creations and If-Match changes); read back at or past their acknowledged version, whole: %d records",
			records, writes, found)
		for i := 0; i < len(counters); i += 2 {
			verifyCounter(t, counters[i], counters[i+1])
		}
	})
	t.Run("events", func(t *testing.T) {
		// An event whose delivery a fault cut short stays claimed for the
		// outbox's minute before it is tried again; rather than wait, the
		// host's clock is moved past it (clock.offset_file, there for
		// rehearsals and tests).
		if err := os.WriteFile(clock, []byte("2m"), 0o644); err != nil {
			t.Fatal(err)
		}
		checkEvents(t, w)
	})
}

// recordWriter creates records of its own and changes them with If-Match,
// keeping what the API acknowledged. Every write sets the record's "v" to
// the version it makes, so that a record read back whole has v = version.
type recordWriter struct {
	name    string
	c       harness.Client
	records []*tracked
	cur     *tracked // the record being changed; nil: create one
}

// tracked is a record of a writer: the last version the API acknowledged,
// the last it showed, and whether a write went unanswered since (its
// version is then unknown until read again).
type tracked struct {
	id           string
	acked, known int
	unsure       bool
}

func newRecordWriter(name string, c harness.Client) *recordWriter {
	return &recordWriter{name: name, c: c}
}

// step makes one request: a creation, a read that settles an unanswered
// write, or an If-Match change. A writer moves on to a new record every
// few versions, so that creations and changes both run all along.
func (wr *recordWriter) step(tl *tally) {
	switch {
	case wr.cur == nil:
		body := map[string]any{"data": map[string]any{"name": fmt.Sprintf("%s's lead %d", wr.name, len(wr.records)+1), "v": 1}, "owner_id": wr.c.ID}
		r, ok := tl.write(wr.c, "POST", "/v1/records/lead", body)
		switch {
		case !ok:
		case r.Status == http.StatusCreated:
			rec, ok := readRecord(tl, wr.name, r)
			if ok {
				wr.cur = &tracked{id: rec.ID, acked: 1, known: 1}
				wr.records = append(wr.records, wr.cur)
			}
		default:
			tl.otherwise(wr.name+": create", r)
		}
	case wr.cur.unsure:
		r, ok := tl.send(wr.c, "GET", recordPath("lead", wr.cur.id), nil)
		switch {
		case !ok:
		case r.Status == http.StatusOK:
			rec, _ := readRecord(tl, wr.name, r)
			v := rec.Version
			if v < wr.cur.acked {
				tl.wrongf("%s: lead %s at version %d, after version %d was acknowledged", wr.name, wr.cur.id, v, wr.cur.acked)
			}
			wr.cur.known, wr.cur.unsure = v, false
		default:
			tl.otherwise(wr.name+": read", r)
		}
	case wr.cur.known >= 5:
		wr.cur = nil
	default:
		next := wr.cur.known + 1
		r, ok := tl.write(wr.c, "PATCH", recordPath("lead", wr.cur.id), map[string]any{"data": map[string]any{"v": next}},
			"If-Match", fmt.Sprintf(`"%d"`, wr.cur.known))
		switch {
		case !ok:
			wr.cur.unsure = true
		case r.Status == http.StatusOK:
			if rec, _ := readRecord(tl, wr.name, r); rec.Version != next {
				tl.wrongf("%s: change of lead %s from version %d acknowledged as version %d", wr.name, wr.cur.id, next-1, rec.Version)
			}
			wr.cur.acked, wr.cur.known = next, next
		case r.Status == http.StatusPreconditionFailed:
			// Only a write of ours that went unanswered can have moved
			// the version: one writer per record.
			tl.wrongf("%s: lead %s changed by someone else (412) at version %d", wr.name, wr.cur.id, wr.cur.known)
			wr.cur.unsure = true
		default:
			tl.otherwise(wr.name+": change", r)
			wr.cur.unsure = true
		}
	}
}

// record is what the chaos tests read of a record.
type record struct {
	ID      string
	Version int
	Data    struct {
		V     int
		Count int
	}
}

// readRecord decodes a record answer and checks that it is whole: its
// data is that of its version (v = version). A record that is not is
// wrong, and reported false.
func readRecord(tl *tally, who string, r harness.Reply) (record, bool) {
	var rec record
	switch {
	case json.Unmarshal(r.Body, &rec) != nil || rec.ID == "":
		tl.wrongf("%s: not a record: %s", who, short(r.Body))
		return rec, false
	case rec.Data.V != rec.Version:
		tl.wrongf("%s: record %s at version %d holds the data of version %d: a half-done write", who, rec.ID, rec.Version, rec.Data.V)
		return rec, false
	}
	return rec, true
}

// verify reads back every record the writer created, once the database is
// back, and returns how many the API acknowledged, how many writes of
// them it acknowledged (creations and changes), and how many of those
// records are in the database at or past their acknowledged version,
// whole.
func (wr *recordWriter) verify(t *testing.T) (records, writes, found int) {
	t.Helper()
	tl := newTally()
	for _, tr := range wr.records {
		records, writes = records+1, writes+tr.acked
		r := wr.c.Do("GET", recordPath("lead", tr.id), nil)
		if r.Status != http.StatusOK {
			t.Errorf("%s: lead %s, acknowledged at version %d, reads %d %s", wr.name, tr.id, tr.acked, r.Status, short(r.Body))
			continue
		}
		rec, whole := readRecord(tl, wr.name, r)
		if rec.Version < tr.acked {
			t.Errorf("%s: lead %s at version %d, after version %d was acknowledged: an acknowledged write is lost", wr.name, tr.id, rec.Version, tr.acked)
			continue
		}
		if whole {
			found++
		}
	}
	tl.check(t, wr.name+": records read back")
	return records, writes, found
}

// counterWriter increments a counter record that another writer
// increments too, reading it and writing it back with If-Match: a 412 is
// the other writer's update winning, never lost.
type counterWriter struct {
	name  string
	c     harness.Client
	id    string
	acked int // increments acknowledged
}

// step reads the counter and writes it back incremented.
func (cw *counterWriter) step(tl *tally) {
	path := recordPath("opportunity", cw.id)
	r, ok := tl.send(cw.c, "GET", path, nil)
	if !ok {
		return
	}
	if r.Status != http.StatusOK {
		tl.otherwise(cw.name+": read counter", r)
		return
	}
	rec, ok := readRecord(tl, cw.name, r)
	if !ok {
		return
	}
	r, ok = tl.write(cw.c, "PATCH", path, map[string]any{"data": map[string]any{"v": rec.Version + 1, "count": rec.Data.Count + 1}},
		"If-Match", fmt.Sprintf(`"%d"`, rec.Version))
	switch {
	case !ok:
	case r.Status == http.StatusOK:
		cw.acked++
	case r.Status == http.StatusPreconditionFailed:
	default:
		tl.otherwise(cw.name+": increment counter", r)
	}
}

// verifyCounter checks a counter two writers incremented: every update
// counted once (count = version - 1: none lost to a concurrent one), and
// no fewer than were acknowledged.
func verifyCounter(t *testing.T, a, b *counterWriter) {
	t.Helper()
	tl := newTally()
	rec, _ := readRecord(tl, a.name, a.c.Must(200, "GET", recordPath("opportunity", a.id), nil))
	tl.check(t, "the counter read back")
	t.Logf("counter %s: %d increments acknowledged (%s %d, %s %d), count %d at version %d",
		a.id, a.acked+b.acked, a.name, a.acked, b.name, b.acked, rec.Data.Count, rec.Version)
	if rec.Data.Count != rec.Version-1 {
		t.Errorf("counter %s: count %d at version %d: %d concurrent If-Match updates lost", a.id, rec.Data.Count, rec.Version, rec.Version-1-rec.Data.Count)
	}
	if rec.Data.Count < a.acked+b.acked {
		t.Errorf("counter %s: count %d, but %d increments were acknowledged", a.id, rec.Data.Count, a.acked+b.acked)
	}
}
