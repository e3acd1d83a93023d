package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/oklog/ulid/v2"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
)

// words make up record names; search looks for them.
var words = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Wonka"}

// tokenUser is a seeded user the load generator acts as.
type tokenUser struct {
	id    string
	token string
}

// fixture is the seeded install and what the scenarios need of it.
type fixture struct {
	db           *store.DB
	install      crm.Install
	records      int
	users        []tokenUser // regular members with tokens
	sparse       tokenUser   // owns 0.01% of the records: the narrowest can=edit list
	admin        tokenUser   // the install's admin, who activates plugins
	userIDs      []string    // every seeded user, for checks
	serviceToken string
	ids          map[crm.RecordType][]string // a sample of record ids per type

	// With -plugins strict-ownership: users by the share of the records
	// their scope covers, and records each may see.
	scoped  map[string]tokenUser
	visible map[string][]crm.Ref

	// With -plugins teams: the users of its scenarios, and the team the
	// users of strict-ownership's scenarios are in.
	teamUsers map[string]tokenUser
	homeTeam  string

	// With -plugins delegation: the user records are delegated to.
	delegate tokenUser
}

func (f *fixture) close() { f.db.Close() }

// seed opens (creating if needed) the database, seeds the install unless it
// exists, and issues fresh tokens.
func seed(ctx context.Context, o options, log *slog.Logger) (*fixture, error) {
	if err := createDatabase(ctx, o.dsn); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, store.DriverMySQL, o.dsn, store.Options{MaxOpenConns: 8})
	if err != nil {
		return nil, err
	}
	f := &fixture{db: db, records: o.records, ids: map[crm.RecordType][]string{}}
	if err := db.Migrate(ctx, log); err != nil {
		db.Close()
		return nil, err
	}
	svc, err := service.New(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := f.seedOnce(ctx, svc, o); err != nil {
		db.Close()
		return nil, err
	}

	if o.strict() {
		if err := f.prepareStrict(ctx, svc, o); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare strict-ownership: %w", err)
		}
	}
	if o.delegationActive() {
		if err := f.prepareDelegation(ctx, svc, o); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare delegation: %w", err)
		}
	}
	if o.teamsActive() {
		if f.homeTeam, err = f.prepareTeams(ctx, svc, o); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare teams: %w", err)
		}
	}
	if err := f.issueTokens(ctx, svc); err != nil {
		db.Close()
		return nil, err
	}
	if o.delegationActive() {
		if err := f.delegateToken(ctx, svc); err != nil {
			db.Close()
			return nil, err
		}
	}
	if o.teamsActive() {
		if err := f.teamTokens(ctx, svc); err != nil {
			db.Close()
			return nil, err
		}
	}
	if o.strict() {
		if err := f.strictTokens(ctx, svc); err != nil {
			db.Close()
			return nil, err
		}
		if err := f.sampleVisible(ctx, o); err != nil {
			db.Close()
			return nil, err
		}
	}
	for _, t := range crm.RecordTypes {
		if f.ids[t], err = sampleIDs(ctx, db, f.install, t, 2000); err != nil {
			db.Close()
			return nil, err
		}
	}
	return f, nil
}

func createDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("-dsn: %w", err)
	}
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	return err
}

func email(i int) string { return fmt.Sprintf("user%04d@load.test", i) }

const (
	sparseEmail = "sparse@load.test"
	adminEmail  = "admin@load.test"
)

func (f *fixture) seedOnce(ctx context.Context, svc *service.Service, o options) error {
	in, err := svc.InstallBySlug(ctx, o.slug)
	if err == nil {
		f.install = in
		fmt.Fprintf(os.Stderr, "load: install %q is already seeded; reusing it\n", o.slug)
		return nil
	}
	if crm.KindOf(err) != crm.KindNotFound {
		return err
	}
	start := time.Now()
	if f.install, err = svc.CreateInstall(ctx, o.slug, "Load test"); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, uint64(o.records)))
	admin, err := svc.AddUser(ctx, f.install, service.NewUser{Email: adminEmail, Role: crm.RoleAdmin})
	if err != nil {
		return err
	}
	sparse, err := svc.AddUser(ctx, f.install, service.NewUser{Email: sparseEmail})
	if err != nil {
		return err
	}
	var users []string
	for i := range o.users {
		u, err := svc.AddUser(ctx, f.install, service.NewUser{Email: email(i)})
		if err != nil {
			return err
		}
		users = append(users, u.ID)
	}
	p, err := svc.PrincipalFor(ctx, f.install, admin)
	if err != nil {
		return err
	}
	var teams []string
	for i := range o.teams {
		t, err := svc.CreateTeam(ctx, p, fmt.Sprintf("Team %02d", i))
		if err != nil {
			return err
		}
		teams = append(teams, t.ID)
	}

	// Records: accounts first, so that contacts and opportunities have one
	// to belong to; activities hang off any earlier record.
	now := time.Now().UTC().Truncate(time.Millisecond)
	const sparseEvery = 10_000 // the sparse user owns one record in 10,000
	perType := o.records / len(crm.RecordTypes)
	var accounts, all []crm.Ref
	batch := make([]crm.Record, 0, 5000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := f.db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRecords(ctx, batch) })
		batch = batch[:0]
		return err
	}
	n := 0
	for _, typ := range []crm.RecordType{crm.TypeAccount, crm.TypeLead, crm.TypeContact, crm.TypeOpportunity, crm.TypeActivity} {
		for range perType {
			n++
			owner := users[rng.IntN(len(users))]
			if n%sparseEvery == 0 {
				owner = sparse.ID
			}
			word := words[rng.IntN(len(words))]
			r := crm.Record{
				ID: crm.NewID(), InstallID: f.install.ID, Type: typ, OwnerID: owner, CreatedBy: owner,
				Data:    map[string]any{"name": fmt.Sprintf("%s %d", word, n), "email": fmt.Sprintf("contact%d@%s.example", n, word)},
				Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			if rng.IntN(5) != 0 {
				r.TeamID = teams[rng.IntN(len(teams))]
			}
			switch typ {
			case crm.TypeContact, crm.TypeOpportunity:
				r.Parent = &accounts[rng.IntN(len(accounts))]
			case crm.TypeActivity:
				r.Parent = &all[rng.IntN(len(all))]
			}
			ref := crm.Ref{Type: typ, ID: r.ID}
			if typ == crm.TypeAccount {
				accounts = append(accounts, ref)
			}
			all = append(all, ref)
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	err = f.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range o.grants {
			ref := all[rng.IntN(len(all))]
			g := crm.Grant{
				ID: crm.NewID(), InstallID: f.install.ID, RecordType: ref.Type, RecordID: ref.ID,
				Actions: []crm.Action{crm.ActionView, crm.ActionEdit}, Source: "delegation", CreatedAt: now,
			}
			if i%2 == 0 {
				g.SubjectType, g.SubjectID = access.SubjectUser, users[rng.IntN(len(users))]
			} else {
				g.SubjectType, g.SubjectID = access.SubjectTeam, teams[rng.IntN(len(teams))]
			}
			expires := now.Add(30 * 24 * time.Hour)
			if i%4 < 2 {
				expires = now.Add(-time.Hour) // half of them expired
			}
			g.ExpiresAt = &expires
			if err := tx.InsertGrant(ctx, g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "load: seeded %d records in %s\n", n, time.Since(start).Round(time.Second))
	return nil
}

// issueTokens replaces the load tokens of a sample of users, the sparse
// user and a service token.
func (f *fixture) issueTokens(ctx context.Context, svc *service.Service) error {
	const label = "load"
	sparse, err := svc.UserByEmail(ctx, f.install, sparseEmail)
	if err != nil {
		return err
	}
	tok, err := svc.ReplaceTokens(ctx, sparse, label)
	if err != nil {
		return err
	}
	f.sparse = tokenUser{id: sparse.ID, token: tok}
	for i := range 20 {
		u, err := svc.UserByEmail(ctx, f.install, email(i))
		if err != nil {
			break // fewer users seeded
		}
		tok, err := svc.ReplaceTokens(ctx, u, label)
		if err != nil {
			return err
		}
		f.users = append(f.users, tokenUser{id: u.ID, token: tok})
	}
	if len(f.users) == 0 {
		return fmt.Errorf("install %q has no load users", f.install.Slug)
	}
	admin, err := svc.UserByEmail(ctx, f.install, adminEmail)
	if err != nil {
		return err
	}
	if tok, err = svc.ReplaceTokens(ctx, admin, label); err != nil {
		return err
	}
	f.admin = tokenUser{id: admin.ID, token: tok}
	p, err := svc.PrincipalFor(ctx, f.install, admin)
	if err != nil {
		return err
	}
	for cursor := ""; ; {
		users, next, err := svc.ListUsers(ctx, p, cursor, service.MaxLimit)
		if err != nil {
			return err
		}
		for _, u := range users {
			f.userIDs = append(f.userIDs, u.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	f.serviceToken, err = svc.CreateServiceToken(ctx, f.install, label)
	return err
}

// sampleIDs picks ids spread over the whole install: pages that start at
// random points of the records' time range.
func sampleIDs(ctx context.Context, db *store.DB, in crm.Install, t crm.RecordType, n int) ([]string, error) {
	newest, err := db.ListRecords(ctx, store.RecordQuery{InstallID: in.ID, Type: t, Limit: 1})
	if err != nil || len(newest) == 0 {
		return nil, fmt.Errorf("install %q has no %s records (%v)", in.Slug, t, err)
	}
	from, to := in.CreatedAt.UnixMilli(), int64(ulid.MustParse(newest[0].ID).Time())+1
	var ids []string
	for tries := 0; len(ids) < n && tries < n; tries++ {
		before := ulid.MustNew(uint64(from+rand.Int64N(to-from+1)), zeroEntropy{}).String()
		recs, err := db.ListRecords(ctx, store.RecordQuery{InstallID: in.ID, Type: t, Before: before, Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("install %q has no %s records", in.Slug, t)
	}
	return ids, nil
}

type zeroEntropy struct{}

func (zeroEntropy) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// bufferPoolNote says when the database server's buffer pool cannot hold
// the records table with its indexes: lists and searches then read pages
// from disk, and measure the disk more than crmguard. "" when it can.
func bufferPoolNote(ctx context.Context, dsn string) (string, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var pool, records int64
	if err := db.QueryRowContext(ctx, "SELECT @@innodb_buffer_pool_size").Scan(&pool); err != nil {
		return "", err
	}
	err = db.QueryRowContext(ctx, "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"+
		" WHERE table_schema = DATABASE() AND table_name = 'crmguard_records'").Scan(&records)
	if err != nil || pool >= records {
		return "", err
	}
	gib := (records*3/2 + 1<<30 - 1) >> 30
	return fmt.Sprintf("load: note: the database's buffer pool (%d MiB) is smaller than the records table and its indexes (%d MiB), "+
		"so lists and searches read from disk; for the figures of a server sized for its data: SET GLOBAL innodb_buffer_pool_size = %d (%d GiB)",
		pool>>20, records>>20, gib<<30, gib), nil
}
