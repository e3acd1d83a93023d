package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// adopted is a real CRM's schema, loaded unchanged into a database of its
// own, with crmguard serving it through an example mapping.
type adopted struct {
	t       *testing.T
	crm     *sql.DB // the CRM's database, as the CRM itself uses it
	crmName string
	cli     cli
	srv     *server
	slug    string
	tables  map[string]string // SHOW CREATE TABLE of every CRM table, before
	service user
}

// loadCRM creates a database holding the named fixture schema, unchanged.
func loadCRM(t *testing.T, schema string) (*sql.DB, string) {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	storetest.LoadSQL(t, dsn, storetest.CRMSchema(schema))
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, cfg.DBName
}

// exec runs statements on the CRM's database, as the CRM would.
func (a *adopted) exec(query string, args ...any) {
	a.t.Helper()
	if _, err := a.crm.Exec(query, args...); err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
}

var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// schema is SHOW CREATE TABLE of every table of the CRM's database that is
// not crmguard's. The AUTO_INCREMENT counter is data, not schema (the
// fixtures leave it out for the same reason).
func (a *adopted) schema() map[string]string {
	a.t.Helper()
	rows, err := a.crm.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT LIKE 'crmguard%' ORDER BY TABLE_NAME", a.crmName)
	if err != nil {
		a.t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, n := range names {
		var name, create string
		if err := a.crm.QueryRow("SHOW CREATE TABLE `"+n+"`").Scan(&name, &create); err != nil {
			a.t.Fatal(err)
		}
		out[n] = autoIncrement.ReplaceAllString(create, "")
	}
	return out
}

// checkSchemaUnchanged fails unless every CRM table is as it was loaded,
// and no table, trigger or view was added to the CRM's database.
func (a *adopted) checkSchemaUnchanged() {
	a.t.Helper()
	after := a.schema()
	if len(after) != len(a.tables) {
		a.t.Errorf("the CRM's database has %d tables after the run, %d before", len(after), len(a.tables))
	}
	for name, before := range a.tables {
		if after[name] != before {
			a.t.Errorf("table %s changed:\nbefore: %s\nafter:  %s", name, before, after[name])
		}
	}
	var triggers int
	a.crm.QueryRow("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", a.crmName).Scan(&triggers)
	if triggers != 0 {
		a.t.Errorf("%d triggers were added to the CRM's database", triggers)
	}
}

// serveAdopted starts crmguard on the example mapping, with its own tables
// in hostDSN's database, and the named plugins.
func serveAdopted(a *adopted, example, hostDSN string, env []string, plugins ...string) {
	a.t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		a.t.Fatal(err)
	}
	redisSrv := cachetest.StartServer(a.t)
	c := newCLI(a.t, "mysql", hostDSN)
	c.env = append(c.env, "CRMGUARD_CONFIG="+filepath.Join(root, "config", "adopt", example+".yaml"),
		"CRMGUARD_PLUGIN_DIR="+pluginDir(a.t, plugins...), "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.env = append(c.env, env...)
	a.cli = c
	a.srv = c.serve()
	a.service = user{t: a.t, base: a.srv.base, token: strings.TrimSpace(c.must("token", "create", "--install", a.slug, "--service"))}
}

// as is a user of the adopted CRM, by the CRM's user id.
func (a *adopted) as(id string) user {
	a.t.Helper()
	return user{t: a.t, base: a.srv.base, id: id,
		token: strings.TrimSpace(a.cli.must("token", "create", "--install", a.slug, "--user", id))}
}

// list is every id u can list of a type, all pages.
func (a *adopted) list(u user, typ string) []string {
	a.t.Helper()
	var ids []string
	cursor := ""
	for {
		r := u.must(200, "GET", "/v1/records/"+typ+"?limit=2&cursor="+cursor, nil)
		ids = append(ids, r.ids(a.t)...)
		next, _ := r.object(a.t)["next_cursor"].(string)
		if next == "" {
			return ids
		}
		cursor = next
	}
}

// filtered appends the decision API's filter for u to a plain SELECT on
// the CRM's table, run directly on the CRM's database, and returns the ids
// it selects. The filter's branches, each appended to a SELECT of its own
// and merged with UNION, must select the same.
func (a *adopted) filtered(u user, typ, table, idColumn string) []string {
	a.t.Helper()
	f := a.service.must(200, "POST", "/v1/authz/filter", map[string]any{"user_id": u.id, "action": "view", "type": typ}).object(a.t)
	if f["kind"] != "conditional" {
		a.t.Fatalf("filter for %s: %v, want a condition", u.id, f)
	}
	q := f["sql"].(map[string]any)
	ids := a.selectIDs("SELECT `"+idColumn+"` FROM `"+table+"` WHERE "+q["where"].(string), q["args"].([]any))
	var selects []string
	var args []any
	for _, b := range q["branches"].([]any) {
		b := b.(map[string]any)
		selects = append(selects, "(SELECT `"+idColumn+"` FROM `"+table+"` WHERE "+b["where"].(string)+")")
		args = append(args, b["args"].([]any)...)
	}
	sameSet(a.t, "the filter's branches for "+u.id, a.selectIDs(strings.Join(selects, " UNION "), args), ids)
	return ids
}

// selectIDs runs a query of ids on the CRM's database.
func (a *adopted) selectIDs(query string, args []any) []string {
	a.t.Helper()
	rows, err := a.crm.Query(query, args...)
	if err != nil {
		a.t.Fatalf("the filter's SQL does not run on the CRM's table: %v\n%s", err, query)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// check asks the decision API whether user may take action on a record.
func (a *adopted) check(userID, action, typ, id string) bool {
	a.t.Helper()
	r := a.service.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
		map[string]any{"user_id": userID, "action": action, "type": typ, "id": id}}}).object(a.t)
	return r["results"].([]any)[0].(map[string]any)["allowed"].(bool)
}

// ownerOnly configures and activates strict-ownership so that members
// see and edit only their own records of the types.
func ownerOnly(admin user, types ...string) {
	admin.t.Helper()
	scopes := map[string]any{}
	for _, typ := range types {
		scopes[typ] = map[string]any{"view": "own", "edit": "own"}
	}
	admin.must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{"member": scopes}})
	admin.must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
}

// storeDSNOf is the DSN of the CRM's database, for crmguard's tables
// beside the CRM's.
func storeDSNOf(t *testing.T, name string) string {
	t.Helper()
	base := storetest.DefaultMySQLDSN
	if v := os.Getenv("CRMGUARD_TEST_MYSQL_DSN"); v != "" {
		base = v
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 150 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
