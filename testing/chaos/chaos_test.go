// Package chaos_test breaks what crmguard depends on while clients of two
// installs use it, and checks the promises that must hold through it: the
// database restarted or killed under concurrent writes, Redis killed and
// restarted under reads and writes, each shipped plugin killed, plugins fed
// malformed paths, and after-write events delivered through all of it.
//
// Every test runs the real binary and plugins (testing/harness) on a
// MariaDB or Redis server of its own whenever it stops or kills it, never
// on the shared ones other test packages use. Loads last a few seconds;
// each test prints its figures (requests by status, events written and
// delivered, time to recover) with t.Logf, shown by go test -v.
package chaos_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/testing/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// world is a harness World served with a Redis of the test's own, with
// the host's database open beside the API as a witness of what the API
// cannot show (the outbox).
type world struct {
	*harness.World
	Redis *cachetest.Server
	DB    *sql.DB
}

// newWorld sets up a World on a MySQL database (dsn) and a redis-server of
// the test's own.
func newWorld(t *testing.T, dsn string, env ...string) *world {
	t.Helper()
	r := cachetest.StartServer(t)
	w := harness.NewWorld(t, harness.WorldOptions{Driver: "mysql", DSN: dsn, RedisURL: "redis://" + r.Addr + "/0", Env: env})
	for _, in := range []*harness.Install{w.A, w.B} {
		for _, c := range []*harness.Client{&in.Admin, &in.Manager, &in.Alice, &in.Bob, &in.Service} {
			c.HTTP = direct
		}
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &world{World: w, Redis: r, DB: db}
}

// direct is the HTTP client of the World's people in these tests: it shows
// a redirect as it comes, which no answer of the API is, rather than
// following it.
var direct = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// installs are the World's two installs.
func (w *world) installs() []*harness.Install { return []*harness.Install{w.A, w.B} }

// on returns c sending its requests to another server (a replica).
func on(s *harness.Server, c harness.Client) harness.Client {
	c.Base = s.Base
	return c
}

// member is Alice or Bob of an install, by the name their seeded records
// are kept under.
type member struct {
	name string
	c    harness.Client
}

// members are the two members of an install.
func members(in *harness.Install) []member {
	return []member{{"alice", in.Alice}, {"bob", in.Bob}}
}

// changeOwnLead returns a step of a load in which a member changes the
// lead seeded as theirs, to a new value each time (a change to the same
// value is no write): 200 expected, or a 503 of the fault.
func changeOwnLead(tl *tally, in *harness.Install, m member) func() {
	path := recordPath("lead", in.Records[m.name]["lead"])
	return func() {
		r, ok := tl.write(m.c, "PATCH", path, map[string]any{"data": map[string]any{"n": time.Now().UnixNano()}})
		if ok && r.Status != http.StatusOK {
			tl.otherwise(in.Slug+"/"+m.name+": change of their lead", r)
		}
	}
}

// recordPath is the API path of a record.
func recordPath(typ, id string) string { return fmt.Sprintf("/v1/records/%s/%s", typ, id) }
