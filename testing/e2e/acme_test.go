package e2e

import (
	"database/sql"
	"slices"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// acme is install acme on MySQL, with an admin (admin@acme.test), served by
// two replicas of the host that share MySQL, Redis and a plugin directory.
type acme struct {
	t       *testing.T
	cli     cli
	dsn     string
	a, b    *server
	service user // the install's service token, on replica A
}

// startAcme builds the plugins named into the replicas' plugin directory
// and starts install acme.
func startAcme(t *testing.T, plugins ...string) acme {
	t.Helper()
	return startAcmeWith(t, nil, plugins...)
}

// startAcmeWith is startAcme with more of the hosts' environment.
func startAcmeWith(t *testing.T, env []string, plugins ...string) acme {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	redisSrv := cachetest.StartServer(t)
	c := newCLI(t, "mysql", dsn)
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+pluginDir(t, plugins...), "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.env = append(c.env, env...)
	c.must("migrate")
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "admin@acme.test", "--role", "admin")
	app := strings.TrimSpace(c.must("token", "create", "--install", "acme", "--service"))
	a, b := c.serve(), c.serve()
	return acme{t: t, cli: c, dsn: dsn, a: a, b: b, service: user{t: t, base: a.base, token: app}}
}

// login is a user of acme with a fresh token, calling the replica at base.
func (s acme) login(email, base string) user {
	s.t.Helper()
	u := user{t: s.t, base: base, token: strings.TrimSpace(s.cli.must("token", "create", "--install", "acme", "--email", email))}
	u.id = u.must(200, "GET", "/v1/me", nil).object(s.t)["user"].(map[string]any)["id"].(string)
	return u
}

// filtered runs the SQL of the decision API's filter for u's view of a
// record type directly on the database, as a CRM appends it to its own
// queries, and returns the ids it selects.
func (s acme) filtered(u user, typ string) []string {
	s.t.Helper()
	db, err := sql.Open("mysql", s.dsn)
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var installID string
	if err := db.QueryRow("SELECT id FROM crmguard_installs WHERE slug = 'acme'").Scan(&installID); err != nil {
		s.t.Fatal(err)
	}
	f := s.service.must(200, "POST", "/v1/authz/filter", map[string]any{"user_id": u.id, "action": "view", "type": typ}).object(s.t)
	where, args := "TRUE", []any{}
	if f["kind"] == "conditional" {
		q := f["sql"].(map[string]any)
		where, args = q["where"].(string), q["args"].([]any)
	}
	rows, err := db.Query("SELECT r.id FROM crmguard_records r WHERE r.install_id = ? AND r.type = ? AND ("+where+")",
		append([]any{installID, typ}, args...)...)
	if err != nil {
		s.t.Fatalf("the filter's SQL does not run: %v", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			s.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// sameSet fails t unless got and want hold the same ids.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}
