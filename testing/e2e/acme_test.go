package e2e

import (
	"database/sql"
	"slices"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// acme is install acme on MySQL, with an admin (admin@acme.test), served by
// two replicas of the host that share MySQL, Redis and a plugin directory.
type acme struct {
	t       *testing.T
	cli     *harness.CLI
	dsn     string
	a, b    *harness.Server
	service harness.Client // the install's service token, on replica A
}

// startAcme puts the plugins named in the replicas' plugin directory and
// starts install acme.
func startAcme(t *testing.T, plugins ...string) acme {
	t.Helper()
	return startAcmeWith(t, nil, plugins...)
}

// startAcmeWith is startAcme with more of the hosts' environment.
func startAcmeWith(t *testing.T, env []string, plugins ...string) acme {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	redisSrv := cachetest.StartServer(t)
	c := harness.NewCLI(t, "mysql", dsn, append([]string{"CRMGUARD_PLUGIN_DIR=" + harness.PluginDir(t, plugins...),
		"CRMGUARD_REDIS_URL=redis://" + redisSrv.Addr + "/0"}, env...)...)
	c.Must("migrate")
	c.CreateInstalls([]string{"acme"})
	a, b := c.Serve(), c.Serve()
	return acme{t: t, cli: c, dsn: dsn, a: a, b: b, service: c.ServiceClient(t, a.Base, "acme")}
}

// login is a user of acme with a fresh token, calling the replica at base.
func (s acme) login(email, base string) harness.Client {
	s.t.Helper()
	return s.cli.Login(s.t, base, "acme", email)
}

// filtered runs the SQL of the decision API's filter for u's view of a
// record type directly on the database, as a CRM appends it to its own
// queries, and returns the ids it selects.
func (s acme) filtered(u harness.Client, typ string) []string {
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
	f := s.service.Must(200, "POST", "/v1/authz/filter", map[string]any{"user_id": u.ID, "action": "view", "type": typ}).Object(s.t)
	where, args := "TRUE", []any{}
	if f["kind"] == "conditional" {
		q := f["sql"].(map[string]any)
		where, args = q["where"].(string), q["args"].([]any)
	}
	rows, err := db.Query("SELECT r.ID FROM crmguard_records r WHERE r.install_id = ? AND r.type = ? AND ("+where+")",
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
