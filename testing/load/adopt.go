package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Adoption mode's load: EspoCRM's schema (the shipped fixture, unchanged)
// with adoptLeads leads owned by adoptUsers members in adoptTeams teams,
// served through config/adopt/espocrm.yaml with strict-ownership making
// every member owner-only. The CRM's list query is measured as the CRM
// runs it: the decision API's filter, then the CRM's own SELECT of 50 rows
// with the filter appended.
const (
	adoptUsers = 100
	adoptTeams = 20
)

// adoptScenarioNames are adoption mode's scenarios.
var adoptScenarioNames = []string{"adopt:filter-list", "adopt:filter-where", "adopt:check", "adopt:list"}

type adoptFixture struct {
	db           *sql.DB
	users        []string // the members' ids
	userTokens   map[string]string
	serviceToken string
	leads        []string // a sample of live lead ids
	addr         string
}

// runAdopt seeds (once) and measures adoption mode.
func runAdopt(ctx context.Context, o options) error {
	if o.adopt != "espocrm" {
		return fmt.Errorf("-adopt: the CRM measured is espocrm, got %q", o.adopt)
	}
	if o.serve == "" {
		return fmt.Errorf("-adopt needs -serve: the host is started on the CRM's database with the example mapping")
	}
	cfg, err := mysql.ParseDSN(o.adoptDSN)
	if err != nil {
		return fmt.Errorf("-adopt-dsn: %w", err)
	}
	if err := createDatabase(ctx, o.adoptDSN); err != nil {
		return err
	}
	multi := cfg.Clone()
	multi.MultiStatements = true
	db, err := sql.Open("mysql", multi.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	seeded, err := seedEspoCRM(ctx, db, o.records)
	if err != nil {
		return err
	}
	if seeded {
		fmt.Fprintf(os.Stderr, "seeded EspoCRM's tables with %d leads in %s\n", o.records, time.Since(start).Round(time.Second))
	}
	if note, err := bufferPoolNote(ctx, o.adoptDSN); err != nil {
		return err
	} else if note != "" {
		fmt.Fprintln(os.Stderr, note)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	env := []string{"CRMGUARD_CONFIG=" + filepath.Join(root, "config", "adopt", "espocrm.yaml"), "CRMGUARD_ADOPT_DATABASE=" + cfg.DBName}
	host, err := startHost(ctx, o.serve, o.adoptDSN, o.redisURL, env...)
	if err != nil {
		return err
	}
	defer host.stop()
	f := &adoptFixture{db: db, addr: host.base, userTokens: map[string]string{}}
	token := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, o.serve, append([]string{"token", "create", "--install", "espocrm", "--label", "load"}, args...)...)
		cmd.Env = append(os.Environ(), append(env, "CRMGUARD_DB_DRIVER=mysql", "CRMGUARD_DB_DSN="+o.adoptDSN, "CRMGUARD_REDIS_URL="+o.redisURL, "CRMGUARD_LOG_LEVEL=warn")...)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("crmguard token create %v: %w", args, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if f.serviceToken, err = token("--service"); err != nil {
		return err
	}
	admin, err := token("--user", espoUser(0))
	if err != nil {
		return err
	}
	for i := 1; i <= adoptUsers; i++ {
		f.users = append(f.users, espoUser(i))
	}
	for _, u := range f.users[:8] { // the records API scenario's users
		if f.userTokens[u], err = token("--user", u); err != nil {
			return err
		}
	}
	settings := `{"roles":{"member":{"lead":{"view":"own","edit":"own"}}}}`
	for _, call := range [][2]string{{"PUT", "/v1/plugins/strict-ownership/settings"}, {"POST", "/v1/plugins/strict-ownership/activate"}} {
		body := settings
		if call[0] == "POST" {
			body = ""
		}
		if err := do(ctx, http.DefaultClient, f.addr, call[0], call[1], admin, []byte(body)); err != nil {
			return err
		}
	}
	if f.leads, err = queryIDs(ctx, db, "SELECT id FROM `lead` WHERE deleted = 0 ORDER BY RAND() LIMIT 2000"); err != nil {
		return err
	}
	steps := map[string]step{"adopt:filter-list": f.filterList, "adopt:filter-where": f.filterWhere, "adopt:check": f.check, "adopt:list": f.list}
	names := adoptScenarioNames
	if o.scenariosSet {
		names = nil
		for _, n := range strings.Split(o.scenarios, ",") {
			if _, ok := steps[strings.TrimSpace(n)]; !ok {
				return fmt.Errorf("unknown scenario %q with -adopt; the scenarios are %s", n, strings.Join(adoptScenarioNames, ", "))
			}
			names = append(names, strings.TrimSpace(n))
		}
	}
	o.addr = f.addr
	fmt.Printf("crmguard load, adoption mode: EspoCRM with %d leads, %d owner-only members in %d teams; %d clients, %s per scenario after %s of warm-up\n\n",
		o.records, adoptUsers, adoptTeams, o.concurrency, o.duration, o.warmup)
	printTable(os.Stdout, runScenarios(ctx, o, names, func(_ options, name string) step { return steps[name] }))
	return nil
}

func espoUser(i int) string { return fmt.Sprintf("u%016d", i) }

func espoTeam(i int) string { return fmt.Sprintf("t%016d", i) }

// seedEspoCRM loads EspoCRM's schema and fills it, once: leads owned by
// the members in turn (every 10th unassigned, every 50th soft-deleted),
// each in its owner's team through entity_team.
func seedEspoCRM(ctx context.Context, db *sql.DB, leads int) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'lead'").Scan(&n); err != nil {
		return false, err
	}
	if n == 1 {
		var rows int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `lead`").Scan(&rows); err != nil {
			return false, err
		}
		if rows == leads {
			return false, nil
		}
		return false, fmt.Errorf("the EspoCRM database holds %d leads, not %d: drop it or use another -adopt-dsn", rows, leads)
	}
	schema, err := os.ReadFile(filepath.Join("testing", "fixtures", "crm-schemas", "espocrm.sql"))
	if err != nil {
		return false, fmt.Errorf("run from the repository's root: %w", err)
	}
	if _, err := db.ExecContext(ctx, string(schema)); err != nil {
		return false, fmt.Errorf("load EspoCRM's schema: %w", err)
	}
	var users, members []string
	users = append(users, fmt.Sprintf("('%s', 'admin', 'admin', 'Ada', 'Admin', 1, 0)", espoUser(0)))
	for i := 1; i <= adoptUsers; i++ {
		users = append(users, fmt.Sprintf("('%s', 'user%d', 'regular', 'User', '%d', 1, 0)", espoUser(i), i, i))
		members = append(members, fmt.Sprintf("('%s', '%s', 0)", espoTeam(i%adoptTeams), espoUser(i)))
	}
	var teams []string
	for i := range adoptTeams {
		teams = append(teams, fmt.Sprintf("('%s', 'Team %d', 0)", espoTeam(i), i))
	}
	for _, stmt := range []string{
		"INSERT INTO user (id, user_name, type, first_name, last_name, is_active, deleted) VALUES " + strings.Join(users, ", "),
		"INSERT INTO team (id, name, deleted) VALUES " + strings.Join(teams, ", "),
		"INSERT INTO team_user (team_id, user_id, deleted) VALUES " + strings.Join(members, ", "),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return false, err
		}
	}
	const batch = 2000
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for from := 0; from < leads; from += batch {
		var rows, links []string
		var args, linkArgs []any
		for i := from; i < min(from+batch, leads); i++ {
			id := fmt.Sprintf("%017x", i+1)
			owner := 1 + i%adoptUsers
			assigned := espoUser(owner)
			if i%10 == 9 {
				assigned = ""
			}
			deleted := 0
			if i%50 == 49 {
				deleted = 1
			}
			rows = append(rows, "(?, ?, ?, 'New', ?, ?, ?, ?)")
			at := base.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05")
			args = append(args, id, words[i%len(words)], fmt.Sprintf("Lead %d", i), assigned, espoUser(0), deleted, at)
			links = append(links, "(?, ?, 'Lead', 0)")
			linkArgs = append(linkArgs, id, espoTeam(owner%adoptTeams))
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO `lead` (id, first_name, last_name, status, assigned_user_id, created_by_id, deleted, created_at) VALUES "+
			strings.Join(rows, ", "), args...); err != nil {
			return false, err
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO entity_team (entity_id, team_id, entity_type, deleted) VALUES "+strings.Join(links, ", "), linkArgs...); err != nil {
			return false, err
		}
	}
	_, err = db.ExecContext(ctx, "ANALYZE TABLE `lead`, entity_team")
	return true, err
}

// filterList is one list of the CRM as docs/adopt.md recommends for large
// tables: the filter of a random member from the decision API, each of its
// branches appended to the CRM's SELECT of a page of 50 leads (half of
// them later pages), merged with UNION, on the CRM's database.
func (f *adoptFixture) filterList(ctx context.Context, rng *rand.Rand, client *http.Client) (int, error) {
	filter, err := f.filter(ctx, rng, client)
	if err != nil {
		return 0, err
	}
	page, pageArgs := f.page(rng)
	var selects []string
	var args []any
	for _, b := range filter.SQL.Branches {
		selects = append(selects, "(SELECT id, first_name, last_name, status, assigned_user_id FROM `lead` WHERE "+b.Where+page+" ORDER BY id DESC LIMIT 50)")
		args = append(append(args, b.Args...), pageArgs...)
	}
	return 0, f.query(ctx, "SELECT * FROM ("+strings.Join(selects, " UNION ")+") u ORDER BY id DESC LIMIT 50", args)
}

// filterWhere is filterList with the filter's one condition appended to
// one SELECT, for comparison.
func (f *adoptFixture) filterWhere(ctx context.Context, rng *rand.Rand, client *http.Client) (int, error) {
	filter, err := f.filter(ctx, rng, client)
	if err != nil {
		return 0, err
	}
	page, pageArgs := f.page(rng)
	return 0, f.query(ctx, "SELECT id, first_name, last_name, status, assigned_user_id FROM `lead` WHERE "+filter.SQL.Where+page+" ORDER BY id DESC LIMIT 50",
		append(filter.SQL.Args, pageArgs...))
}

type filterReply struct {
	Kind string
	SQL  struct {
		Where    string
		Args     []any
		Branches []struct {
			Where string
			Args  []any
		}
	}
}

func (f *adoptFixture) filter(ctx context.Context, rng *rand.Rand, client *http.Client) (filterReply, error) {
	var reply filterReply
	u := f.users[rng.IntN(len(f.users))]
	body := []byte(`{"user_id":"` + u + `","action":"view","type":"lead"}`)
	req, err := http.NewRequestWithContext(ctx, "POST", f.addr+"/v1/authz/filter", bytes.NewReader(body))
	if err != nil {
		return reply, err
	}
	req.Header.Set("Authorization", "Bearer "+f.serviceToken)
	resp, err := client.Do(req)
	if err != nil {
		return reply, err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return reply, fmt.Errorf("filter: %d %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &reply); err != nil || reply.Kind != "conditional" {
		return reply, fmt.Errorf("filter: %s", raw)
	}
	return reply, nil
}

// page is the keyset condition of a later page, half the time.
func (f *adoptFixture) page(rng *rand.Rand) (string, []any) {
	if rng.IntN(2) == 0 {
		return "", nil
	}
	return " AND id < ?", []any{f.leads[rng.IntN(len(f.leads))]}
}

func (f *adoptFixture) query(ctx context.Context, query string, args []any) error {
	rows, err := f.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, first, last, status, owner sql.NullString
		if err := rows.Scan(&id, &first, &last, &status, &owner); err != nil {
			return err
		}
	}
	return rows.Err()
}

// check is one question to the decision API: may a random member view or
// edit a random lead.
func (f *adoptFixture) check(ctx context.Context, rng *rand.Rand, client *http.Client) (int, error) {
	action := "view"
	if rng.IntN(2) == 0 {
		action = "edit"
	}
	body := `{"checks":[{"user_id":"` + f.users[rng.IntN(len(f.users))] + `","action":"` + action + `","type":"lead","id":"` + f.leads[rng.IntN(len(f.leads))] + `"}]}`
	return 1, do(ctx, client, f.addr, "POST", "/v1/authz/check", f.serviceToken, []byte(body))
}

// list is a page of a member's leads through crmguard's records API.
func (f *adoptFixture) list(ctx context.Context, rng *rand.Rand, client *http.Client) (int, error) {
	u := f.users[rng.IntN(8)]
	return 0, do(ctx, client, f.addr, "GET", "/v1/records/lead?limit=50", f.userTokens[u], nil)
}
