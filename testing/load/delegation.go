package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
)

// The delegation seed: the install holds delegationTotal delegations, half
// of them expired, of which the delegate's are delegateShare.
const (
	delegationTotal = 100_000
	delegateShare   = 2_000
	delegateEmail   = "delegate@load.test"
)

// delegationSettings are the plugin's defaults.
func delegationSettings() map[string]any { return map[string]any{} }

// prepareDelegation seeds delegations once: a delegate (a sales rep, who
// with strict-ownership sees only their own records and what is delegated
// to them) with delegateShare delegations on others' records, and more to
// seeded users until the install holds delegationTotal; half of each are
// expired. It works on the tables directly, before the host starts.
func (f *fixture) prepareDelegation(ctx context.Context, svc *service.Service, o options) error {
	if _, err := svc.UserByEmail(ctx, f.install, delegateEmail); err == nil {
		return nil // prepared before
	}
	admin, err := svc.UserByEmail(ctx, f.install, adminEmail)
	if err != nil {
		return err
	}
	p, err := svc.PrincipalFor(ctx, f.install, admin)
	if err != nil {
		return err
	}
	if _, err := svc.PutRole(ctx, p, crm.Role{Name: "sales-rep", Description: "Sales representative", Capabilities: []crm.Capability{}}); err != nil {
		return err
	}
	delegate, err := svc.AddUser(ctx, f.install, service.NewUser{Email: delegateEmail, Role: "sales-rep"})
	if err != nil {
		return err
	}
	start := time.Now()
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var refs []crm.Ref
	rows, err := db.QueryContext(ctx, "SELECT type, id FROM crmguard_records WHERE install_id = ?", f.install.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var r crm.Ref
		if err := rows.Scan(&r.Type, &r.ID); err != nil {
			rows.Close()
			return err
		}
		refs = append(refs, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var existing int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM crmguard_grants WHERE install_id = ? AND source = 'delegation'", f.install.ID).Scan(&existing); err != nil {
		return err
	}
	users, err := queryIDs(ctx, db, "SELECT id FROM crmguard_users WHERE install_id = ? AND email LIKE 'user%@load.test'", f.install.ID) // the seeded users
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Now().UTC().Truncate(time.Millisecond)
	grants := func(n int, subject func() string) error {
		return f.db.InTx(ctx, func(tx *store.Tx) error {
			for i := range n {
				ref := refs[rng.IntN(len(refs))]
				expires := now.Add(60 * 24 * time.Hour)
				if i%2 == 0 {
					expires = now.Add(-time.Duration(1+rng.IntN(1000)) * time.Hour) // half of them expired
				}
				g := crm.Grant{ID: crm.NewID(), InstallID: f.install.ID, RecordType: ref.Type, RecordID: ref.ID,
					SubjectType: access.SubjectUser, SubjectID: subject(), Actions: []crm.Action{crm.ActionView, crm.ActionEdit},
					Source: "delegation", ExpiresAt: &expires, CreatedAt: now}
				if err := tx.InsertGrant(ctx, g); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := grants(delegateShare, func() string { return delegate.ID }); err != nil {
		return err
	}
	if rest := delegationTotal - existing - delegateShare; rest > 0 {
		if err := grants(rest, func() string { return users[rng.IntN(len(users))] }); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "load: seeded delegations in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// delegateToken issues the delegate's token.
func (f *fixture) delegateToken(ctx context.Context, svc *service.Service) error {
	u, err := svc.UserByEmail(ctx, f.install, delegateEmail)
	if err != nil {
		return err
	}
	tok, err := svc.ReplaceTokens(ctx, u, "load")
	f.delegate = tokenUser{id: u.ID, token: tok}
	return err
}

// delegationScenarios are the scenarios of -plugins delegation: the
// delegate's lists (half of them later pages).
func delegationScenarios() map[string]request {
	return map[string]request{
		"list:delegate": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
			return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50" + f.laterPage(rng), f.delegate.token, nil, 0
		},
	}
}

var delegationScenarioNames = []string{"list:delegate"}

// checkDelegate makes sure the delegate's list shows delegated records, so
// that list:delegate measures reading them, not an empty page.
func (f *fixture) checkDelegate(base string) error {
	req, err := http.NewRequest("GET", base+"/v1/records/lead?limit=1", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.delegate.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var page struct{ Items []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the delegate's list: %d, %v", resp.StatusCode, err)
	}
	if len(page.Items) == 0 {
		return fmt.Errorf("the delegate sees no lead: are the delegations suspended?")
	}
	return nil
}
