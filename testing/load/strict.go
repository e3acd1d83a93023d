package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
)

// The users whose views the strict-ownership scenarios measure, by the
// share of the records their scope covers.
const (
	scopeSparse  = "own-0.01%"  // the sparse user: one record in 10,000
	scopeOne     = "own-1%"     // owns what ten seeded users owned
	scopeHalf    = "own-50%"    // owns what half the seeded users owned
	scopeReports = "reports-50" // a manager of 50 users
)

var strictScopes = []string{scopeSparse, scopeOne, scopeHalf, scopeReports}

// minStrictUsers is the fewest seeded users the scoped users can be made
// of.
const minStrictUsers = 200

// strictSettings make sales reps see, edit and delete their own records of
// every type, and managers their reports'.
func strictSettings() map[string]any {
	rep, manager := map[string]any{}, map[string]any{}
	for _, t := range crm.RecordTypes {
		rep[string(t)] = map[string]any{"view": "own", "edit": "own", "delete": "own"}
		manager[string(t)] = map[string]any{"view": "reports", "edit": "reports"}
	}
	return map[string]any{"roles": map[string]any{"sales-rep": rep, "manager": manager}}
}

// prepareStrict shapes the seeded install for strict ownership, once: a
// role sales-rep for the sparse user and two new users who take over the
// records of 1% and 50% of the seeded users, and a manager of 50 of them.
// It works on the tables directly, before the host starts.
func (f *fixture) prepareStrict(ctx context.Context, svc *service.Service, o options) error {
	admin, err := svc.UserByEmail(ctx, f.install, adminEmail)
	if err != nil {
		return err
	}
	p, err := svc.PrincipalFor(ctx, f.install, admin)
	if err != nil {
		return err
	}
	if _, err := svc.UserByEmail(ctx, f.install, "manager@load.test"); err == nil {
		return nil // prepared before
	}
	if _, err := svc.PutRole(ctx, p, crm.Role{Name: "sales-rep", Description: "Sales representative", Capabilities: []crm.Capability{}}); err != nil {
		return err
	}
	seeded := func(from, to int) []string {
		var ids []string
		for i := from; i < to && i < o.users; i++ {
			u, err := svc.UserByEmail(ctx, f.install, email(i))
			if err == nil {
				ids = append(ids, u.ID)
			}
		}
		return ids
	}
	add := func(mail, role string) (crm.User, error) {
		return svc.AddUser(ctx, f.install, service.NewUser{Email: mail, Role: role})
	}
	one, err := add("rep-1pct@load.test", "sales-rep")
	if err != nil {
		return err
	}
	half, err := add("rep-50pct@load.test", "sales-rep")
	if err != nil {
		return err
	}
	manager, err := add("manager@load.test", crm.RoleManager)
	if err != nil {
		return err
	}
	// Users 0-19 hold the tokens of the other scenarios; the takeovers and
	// the reports come from the users after them, apart.
	oneFrom, halfFrom := seeded(20, 20+o.users/100), seeded(o.users/2, o.users)
	reports := seeded(o.users/2-50, o.users/2)
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, move := range []struct {
		to   string
		from []string
	}{{one.ID, oneFrom}, {half.ID, halfFrom}} {
		if len(move.from) == 0 {
			continue
		}
		args := []any{move.to, f.install.ID}
		for _, id := range move.from {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE crmguard_records SET owner_id = ? WHERE install_id = ? AND owner_id IN ("+
			strings.TrimSuffix(strings.Repeat("?, ", len(move.from)), ", ")+")", args...); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE crmguard_users SET role = 'sales-rep' WHERE install_id = ? AND email = ?", f.install.ID, sparseEmail); err != nil {
		return err
	}
	for _, id := range reports {
		if _, err := tx.ExecContext(ctx, "UPDATE crmguard_users SET manager_id = ? WHERE install_id = ? AND id = ?", manager.ID, f.install.ID, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// visibleSample is how many records of each scoped user get:scoped asks
// for.
const visibleSample = 300

// sampleVisible picks, for each scoped user, records they may see: their
// own, or (the manager) their reports', in their team or none when teams
// is active too.
func (f *fixture) sampleVisible(ctx context.Context, o options) error {
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	f.visible = map[string][]crm.Ref{}
	for _, scope := range strictScopes {
		owners := []string{f.scoped[scope].id}
		if scope == scopeReports {
			if owners, err = queryIDs(ctx, db, "SELECT id FROM crmguard_users WHERE install_id = ? AND manager_id = ?", f.install.ID, f.scoped[scope].id); err != nil {
				return err
			}
		}
		// With teams, they see what is in their team or in none.
		inTeams := []store.RecordQuery{{}}
		if f.homeTeam != "" {
			inTeams = []store.RecordQuery{{TeamID: f.homeTeam}, {NoTeam: true}}
		}
		for _, owner := range owners {
			for _, t := range crm.RecordTypes {
				for _, q := range inTeams {
					q.InstallID, q.Type, q.OwnerID, q.Limit = f.install.ID, t, owner, 100
					recs, err := f.db.ListRecords(ctx, q)
					if err != nil {
						return err
					}
					for _, r := range recs {
						f.visible[scope] = append(f.visible[scope], crm.Ref{Type: t, ID: r.ID})
					}
				}
			}
		}
		// A few hundred of them, so that a warm-up reads each one: the
		// gets measure warm records.
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(f.visible[scope]), func(i, j int) {
			f.visible[scope][i], f.visible[scope][j] = f.visible[scope][j], f.visible[scope][i]
		})
		f.visible[scope] = f.visible[scope][:min(len(f.visible[scope]), visibleSample)]
		if len(f.visible[scope]) == 0 {
			return fmt.Errorf("%s sees no records", scope)
		}
	}
	return nil
}

// strictTokens issues tokens to the users of the strict scenarios.
func (f *fixture) strictTokens(ctx context.Context, svc *service.Service) error {
	f.scoped = map[string]tokenUser{scopeSparse: f.sparse} // issued with the others
	for scope, mail := range map[string]string{scopeOne: "rep-1pct@load.test", scopeHalf: "rep-50pct@load.test",
		scopeReports: "manager@load.test"} {
		u, err := svc.UserByEmail(ctx, f.install, mail)
		if err != nil {
			return err
		}
		tok, err := svc.ReplaceTokens(ctx, u, "load")
		if err != nil {
			return err
		}
		f.scoped[scope] = tokenUser{id: u.ID, token: tok}
	}
	return nil
}

// strictScenarios are the scenarios of -plugins strict-ownership: lists
// (half of them later pages) and searches of each scoped user, and gets
// of records they may see.
func strictScenarios() map[string]request {
	out := map[string]request{}
	for _, scope := range strictScopes {
		out["list:"+scope] = func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
			return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50" + f.laterPage(rng), f.scoped[scope].token, nil, 0
		}
	}
	out["search:scoped"] = func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		u := f.scoped[strictScopes[rng.IntN(len(strictScopes))]]
		return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50&q=" + words[rng.IntN(len(words))], u.token, nil, 0
	}
	out["get:scoped"] = func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		scope := strictScopes[rng.IntN(len(strictScopes))]
		refs := f.visible[scope]
		r := refs[rng.IntN(len(refs))]
		return "GET", "/v1/records/" + string(r.Type) + "/" + r.ID, f.scoped[scope].token, nil, 1
	}
	return out
}

var strictScenarioNames = []string{"list:" + scopeSparse, "list:" + scopeOne, "list:" + scopeHalf, "list:" + scopeReports, "search:scoped", "get:scoped"}

// queryIDs runs a query of one column on the database directly.
func queryIDs(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
