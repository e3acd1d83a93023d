package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// adopted is a real CRM's schema, loaded unchanged into a database of its
// own, with crmguard serving it through an example mapping.
type adopted struct {
	t       *testing.T
	crm     *sql.DB // the CRM's database, as the CRM itself uses it
	crmName string
	cli     *harness.CLI
	srv     *harness.Server
	slug    string
	tables  map[string]string // SHOW CREATE TABLE of every CRM table, before
	service harness.Client
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
	redisSrv := cachetest.StartServer(a.t)
	c := harness.NewCLI(a.t, "mysql", hostDSN, append([]string{"CRMGUARD_CONFIG=" + exampleMapping(a.t, example),
		"CRMGUARD_PLUGIN_DIR=" + harness.PluginDir(a.t, plugins...), "CRMGUARD_REDIS_URL=redis://" + redisSrv.Addr + "/0"}, env...)...)
	a.cli = c
	a.srv = c.Serve()
	a.service = c.ServiceClient(a.t, a.srv.Base, a.slug)
}

// exampleMapping is the path of an example mapping of config/adopt.
func exampleMapping(t *testing.T, example string) string {
	t.Helper()
	return filepath.Join(harness.Root(t), "config", "adopt", example+".yaml")
}

// as is a user of the adopted CRM, by the CRM's user id.
func (a *adopted) as(id string) harness.Client {
	a.t.Helper()
	return harness.Client{T: a.t, Base: a.srv.Base, ID: id, Token: a.cli.Must("token", "create", "--install", a.slug, "--user", id)}
}

// list is every id u can list of a type, all pages.
func (a *adopted) list(u harness.Client, typ string) []string {
	a.t.Helper()
	var ids []string
	cursor := ""
	for {
		r := u.Must(200, "GET", "/v1/records/"+typ+"?limit=2&cursor="+cursor, nil)
		ids = append(ids, r.IDs(a.t)...)
		next, _ := r.Object(a.t)["next_cursor"].(string)
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
func (a *adopted) filtered(u harness.Client, typ, table, idColumn string) []string {
	a.t.Helper()
	f := a.service.Must(200, "POST", "/v1/authz/filter", map[string]any{"user_id": u.ID, "action": "view", "type": typ}).Object(a.t)
	if f["kind"] != "conditional" {
		a.t.Fatalf("filter for %s: %v, want a condition", u.ID, f)
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
	sameSet(a.t, "the filter's branches for "+u.ID, a.selectIDs(strings.Join(selects, " UNION "), args), ids)
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
	r := a.service.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{
		map[string]any{"user_id": userID, "action": action, "type": typ, "id": id}}}).Object(a.t)
	return r["results"].([]any)[0].(map[string]any)["allowed"].(bool)
}

// ownerOnly configures and activates strict-ownership so that members
// see and edit only their own records of the types.
func ownerOnly(admin harness.Client, types ...string) {
	admin.T.Helper()
	scopes := map[string]any{}
	for _, typ := range types {
		scopes[typ] = map[string]any{"view": "own", "edit": "own"}
	}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{"member": scopes}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
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
