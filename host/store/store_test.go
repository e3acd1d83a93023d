package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// fixture is one install with two users, as most tests need.
type fixture struct {
	install      crm.Install
	alice, bob   crm.User
	otherInstall crm.Install
	mallory      crm.User // a user of the other install
}

func newFixture(t *testing.T, db *store.DB) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.install = mustInstall(t, db, "acme")
	f.otherInstall = mustInstall(t, db, "globex")
	f.alice = mustUser(t, db, f.install.ID, "alice@acme.test", crm.RoleMember, "")
	f.bob = mustUser(t, db, f.install.ID, "bob@acme.test", crm.RoleManager, "")
	f.mallory = mustUser(t, db, f.otherInstall.ID, "mallory@globex.test", crm.RoleMember, "")
	_ = ctx
	return f
}

func mustInstall(t *testing.T, db *store.DB, slug string) crm.Install {
	t.Helper()
	in := crm.Install{ID: crm.NewID(), Slug: slug, Name: slug, Settings: crm.DefaultSettings(), CreatedAt: t0}
	if err := db.CreateInstall(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return in
}

func mustUser(t *testing.T, db *store.DB, installID, email, role, manager string) crm.User {
	t.Helper()
	u := crm.User{ID: crm.NewID(), InstallID: installID, Email: email, Name: email, Role: role, ManagerID: manager, CreatedAt: t0}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func mustRecord(t *testing.T, db *store.DB, installID string, typ crm.RecordType, name, owner, creator string, parent *crm.Ref) crm.Record {
	t.Helper()
	r := crm.Record{
		ID: crm.NewID(), InstallID: installID, Type: typ, OwnerID: owner, CreatedBy: creator, Parent: parent,
		Data: map[string]any{"name": name, "email": name + "@example.test"}, Version: 1, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := db.InsertRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInstalls(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		in := mustInstall(t, db, "acme")

		t.Run("BySlugAndID", func(t *testing.T) {
			got, err := db.InstallBySlug(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != in.ID || got.Settings != crm.DefaultSettings() || !got.CreatedAt.Equal(t0) {
				t.Fatalf("got %+v, want %+v", got, in)
			}
			if _, err := db.InstallByID(ctx, in.ID); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrDuplicateSlug", func(t *testing.T) {
			err := db.CreateInstall(ctx, crm.Install{ID: crm.NewID(), Slug: "acme", Name: "again", Settings: crm.DefaultSettings(), CreatedAt: t0})
			if !errors.Is(err, store.ErrDuplicate) {
				t.Fatalf("got %v, want ErrDuplicate", err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			if _, err := db.InstallBySlug(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
		t.Run("BuiltInRoles", func(t *testing.T) {
			roles, err := db.ListRoles(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(roles) != 3 || roles[0].Name != "admin" || !roles[0].Has(crm.CapReassign) || roles[2].Name != "member" || roles[2].Has(crm.CapReassign) {
				t.Fatalf("got roles %+v", roles)
			}
		})
		t.Run("Settings", func(t *testing.T) {
			want := crm.Settings{AssignmentEnabled: false, AssignBy: crm.AssignByAdmins, Timezone: "Pacific/Auckland"}
			if err := db.UpdateSettings(ctx, in.ID, want); err != nil {
				t.Fatal(err)
			}
			got, err := db.InstallByID(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Settings != want {
				t.Fatalf("got %+v, want %+v", got.Settings, want)
			}
		})
	})
}

func TestUsersAndTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)

		t.Run("ErrDuplicateEmail", func(t *testing.T) {
			u := crm.User{ID: crm.NewID(), InstallID: f.install.ID, Email: "alice@acme.test", Role: crm.RoleMember, CreatedAt: t0}
			if err := db.CreateUser(ctx, u); !errors.Is(err, store.ErrDuplicate) {
				t.Fatalf("got %v, want ErrDuplicate", err)
			}
		})
		t.Run("SameEmailInAnotherInstall", func(t *testing.T) {
			mustUser(t, db, f.otherInstall.ID, "alice@acme.test", crm.RoleMember, "")
		})
		t.Run("ErrReferenceManagerOfAnotherInstall", func(t *testing.T) {
			u := crm.User{ID: crm.NewID(), InstallID: f.install.ID, Email: "eve@acme.test", Role: crm.RoleMember, ManagerID: f.mallory.ID, CreatedAt: t0}
			if err := db.CreateUser(ctx, u); !errors.Is(err, store.ErrReference) {
				t.Fatalf("got %v, want ErrReference", err)
			}
		})
		t.Run("ErrReferenceUnknownRole", func(t *testing.T) {
			u := crm.User{ID: crm.NewID(), InstallID: f.install.ID, Email: "eve@acme.test", Role: "pirate", CreatedAt: t0}
			if err := db.CreateUser(ctx, u); !errors.Is(err, store.ErrReference) {
				t.Fatalf("got %v, want ErrReference", err)
			}
		})
		t.Run("Manager", func(t *testing.T) {
			carol := mustUser(t, db, f.install.ID, "carol@acme.test", crm.RoleMember, f.bob.ID)
			got, err := db.UserByEmail(ctx, f.install.ID, "carol@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != carol.ID || got.ManagerID != f.bob.ID {
				t.Fatalf("got %+v", got)
			}
			if _, err := db.User(ctx, f.otherInstall.ID, carol.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("user found through another install: %v", err)
			}
		})
		t.Run("ListUsersPages", func(t *testing.T) {
			first, err := db.ListUsers(ctx, f.install.ID, "", 2)
			if err != nil {
				t.Fatal(err)
			}
			rest, err := db.ListUsers(ctx, f.install.ID, first[len(first)-1].ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != 2 || len(rest) != 1 {
				t.Fatalf("got pages of %d and %d users, want 2 and 1", len(first), len(rest))
			}
			for _, u := range append(first, rest...) {
				if u.InstallID != f.install.ID {
					t.Fatalf("user %s of another install listed", u.Email)
				}
			}
		})
		t.Run("PrincipalByTokenHash", func(t *testing.T) {
			hash := sha256.Sum256([]byte("secret"))
			tok := crm.Token{ID: crm.NewID(), InstallID: f.install.ID, UserID: f.bob.ID, Label: "cli", CreatedAt: t0}
			if err := db.CreateToken(ctx, tok, hash[:]); err != nil {
				t.Fatal(err)
			}
			p, stored, err := db.PrincipalByTokenHash(ctx, hash[:])
			if err != nil {
				t.Fatal(err)
			}
			if p.User.ID != f.bob.ID || p.Install.ID != f.install.ID || p.Role.Name != crm.RoleManager || string(stored) != string(hash[:]) {
				t.Fatalf("got %+v", p)
			}
			if err := db.DeleteTokens(ctx, f.install.ID, f.bob.ID, "cli"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.PrincipalByTokenHash(ctx, hash[:]); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted token still works: %v", err)
			}
		})
		t.Run("ManagerLinks", func(t *testing.T) {
			carol, err := db.UserByEmail(ctx, f.install.ID, "carol@acme.test") // bob's report, from Manager
			if err != nil {
				t.Fatal(err)
			}
			dave := mustUser(t, db, f.install.ID, "dave@acme.test", crm.RoleMember, carol.ID)
			mustUser(t, db, f.otherInstall.ID, "trent@globex.test", crm.RoleMember, f.mallory.ID)
			got, err := db.ManagerLinks(ctx, f.install.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := crm.ManagerLinks{carol.ID: f.bob.ID, dave.ID: carol.ID}
			if !maps.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
		t.Run("RolePeers", func(t *testing.T) {
			// Earlier subtests made more members (carol, dave): every
			// member of acme but the user counts, in id order; gina, a
			// manager, and trent2, of another install, do not.
			erin := mustUser(t, db, f.install.ID, "erin@acme.test", crm.RoleMember, "")
			frank := mustUser(t, db, f.install.ID, "frank@acme.test", crm.RoleMember, f.bob.ID)
			gina := mustUser(t, db, f.install.ID, "gina@acme.test", crm.RoleManager, "")
			trent := mustUser(t, db, f.otherInstall.ID, "trent2@globex.test", crm.RoleMember, "")
			all, err := db.ListUsers(ctx, f.install.ID, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{f.alice.ID, erin.ID, frank.ID} {
				got, err := db.RolePeers(ctx, f.install.ID, crm.RoleMember, u)
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, o := range all {
					if o.Role == crm.RoleMember && o.ID != u {
						want = append(want, o.ID)
					}
				}
				if !slices.Equal(got, want) || slices.Contains(got, gina.ID) || slices.Contains(got, trent.ID) {
					t.Fatalf("role peers of %s: %v, want %v", u, got, want)
				}
			}
			if got, err := db.RolePeers(ctx, f.install.ID, crm.RoleAdmin, f.alice.ID); err != nil || len(got) != 0 {
				t.Fatalf("peers in a role nobody has: %v, %v", got, err)
			}
		})
	})
}

func TestTeams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		team := crm.Team{ID: crm.NewID(), InstallID: f.install.ID, Name: "Sales", CreatedAt: t0}
		if err := db.CreateTeam(ctx, team); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrDuplicateName", func(t *testing.T) {
			err := db.CreateTeam(ctx, crm.Team{ID: crm.NewID(), InstallID: f.install.ID, Name: "Sales", CreatedAt: t0})
			if !errors.Is(err, store.ErrDuplicate) {
				t.Fatalf("got %v, want ErrDuplicate", err)
			}
		})
		t.Run("SetMembers", func(t *testing.T) {
			members := []crm.Membership{{UserID: f.alice.ID, Primary: true}, {UserID: f.bob.ID}}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.SetTeamMembers(ctx, f.install.ID, team.ID, members, t0) }); err != nil {
				t.Fatal(err)
			}
			got, err := db.TeamMembers(ctx, f.install.ID, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %+v", got)
			}
			teams, err := db.UserTeams(ctx, f.install.ID, f.alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(teams) != 1 || teams[0].TeamID != team.ID || !teams[0].Primary {
				t.Fatalf("got %+v", teams)
			}
		})
		t.Run("FirstJoinedStaysFirst", func(t *testing.T) {
			// Bob joins Support after Sales; saving Sales again later
			// keeps it his first team, so his primary one.
			support := crm.Team{ID: crm.NewID(), InstallID: f.install.ID, Name: "Support", CreatedAt: t0}
			if err := db.CreateTeam(ctx, support); err != nil {
				t.Fatal(err)
			}
			set := func(teamID string, at time.Time, members ...crm.Membership) {
				t.Helper()
				if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.SetTeamMembers(ctx, f.install.ID, teamID, members, at) }); err != nil {
					t.Fatal(err)
				}
			}
			set(support.ID, t0.Add(time.Minute), crm.Membership{UserID: f.bob.ID})
			set(team.ID, t0.Add(2*time.Minute), crm.Membership{UserID: f.alice.ID, Primary: true}, crm.Membership{UserID: f.bob.ID})
			teams, err := db.UserTeams(ctx, f.install.ID, f.bob.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(teams) != 2 || teams[0].TeamID != team.ID {
				t.Fatalf("bob's teams %+v, want Sales (joined first) first", teams)
			}
			set(support.ID, t0.Add(3*time.Minute)) // empty it again for the next test
		})
		t.Run("MemberOfAnotherInstallRollsBack", func(t *testing.T) {
			members := []crm.Membership{{UserID: f.alice.ID}, {UserID: f.mallory.ID}}
			err := db.InTx(ctx, func(tx *store.Tx) error { return tx.SetTeamMembers(ctx, f.install.ID, team.ID, members, t0) })
			if !errors.Is(err, store.ErrReference) {
				t.Fatalf("got %v, want ErrReference", err)
			}
			got, err := db.TeamMembers(ctx, f.install.ID, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("a failed change left %d members, want the 2 from before", len(got))
			}
		})
	})
}

func TestAuditAndGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		lead := mustRecord(t, db, f.install.ID, crm.TypeLead, "Lead", f.alice.ID, f.alice.ID, nil)
		var events []crm.AuditEvent
		for i := range 3 {
			events = append(events, crm.AuditEvent{ID: crm.NewID(), InstallID: f.install.ID, At: t0.Add(time.Duration(i) * time.Second),
				ActorID: f.alice.ID, Action: crm.AuditRecordAssign, RecordType: crm.TypeLead, RecordID: lead.ID,
				Detail: map[string]any{"from": nil, "to": f.alice.ID}})
		}
		if err := db.AppendAudit(ctx, events...); err != nil {
			t.Fatal(err)
		}
		got, err := db.RecordAudit(ctx, f.install.ID, crm.TypeLead, lead.ID, events[0].ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != events[1].ID || got[0].Detail["to"] != f.alice.ID || !got[1].At.Equal(events[2].At) {
			t.Fatalf("got %+v", got)
		}
		if other, _ := db.RecordAudit(ctx, f.otherInstall.ID, crm.TypeLead, lead.ID, "", 10); len(other) != 0 {
			t.Fatalf("audit visible from another install: %+v", other)
		}

		soon := t0.Add(time.Hour)
		for _, g := range []crm.Grant{
			{ID: crm.NewID(), Actions: []crm.Action{crm.ActionView, crm.ActionEdit}},
			{ID: crm.NewID(), Actions: []crm.Action{crm.ActionView}, ExpiresAt: &soon},
		} {
			g.InstallID, g.RecordType, g.RecordID, g.SubjectType, g.SubjectID, g.Source, g.CreatedAt = f.install.ID, crm.TypeLead, lead.ID, "user", f.bob.ID, "delegation", t0
			if err := db.InsertGrant(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		before, err := db.RecordGrants(ctx, f.install.ID, crm.TypeLead, lead.ID, soon.Add(-time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		after, err := db.RecordGrants(ctx, f.install.ID, crm.TypeLead, lead.ID, soon)
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 2 || len(after) != 1 || fmt.Sprint(after[0].Actions) != "[view edit]" {
			t.Fatalf("grants before expiry %+v, at expiry %+v", before, after)
		}
		if err := db.DeleteRecord(ctx, f.install.ID, crm.TypeLead, lead.ID); err != nil {
			t.Fatal(err)
		}
		if left, _ := db.RecordGrants(ctx, f.install.ID, crm.TypeLead, lead.ID, t0); len(left) != 0 {
			t.Fatalf("grants outlived their record: %+v", left)
		}
	})
}

// TestConcurrentMigrate starts several stores on one fresh database at once,
// as replicas do; the lock lets exactly one apply the migrations.
func TestConcurrentMigrate(t *testing.T) {
	for _, tc := range []struct {
		driver string
		dsn    func(testing.TB) string
	}{
		{store.DriverSQLite, storetest.SQLiteDSN},
		{store.DriverMySQL, storetest.MySQLDSN},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			dsn := tc.dsn(t)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					db, err := store.Open(ctx, tc.driver, dsn, store.Options{MaxOpenConns: 4})
					if err != nil {
						errs[i] = err
						return
					}
					defer db.Close()
					errs[i] = db.Migrate(ctx, slog.New(slog.DiscardHandler))
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			db, err := store.Open(ctx, tc.driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			v, err := db.SchemaVersion(ctx)
			if err != nil || v < 1 {
				t.Fatalf("schema version %d, %v", v, err)
			}
		})
	}
}

// TestMySQLUnsafeCollation opens MySQL with a collation in which the
// driver will not escape arguments itself: the store falls back to
// prepared statements and works.
func TestMySQLUnsafeCollation(t *testing.T) {
	cfg, err := mysql.ParseDSN(storetest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Collation = "sjis_japanese_ci"
	ctx := context.Background()
	db, err := store.Open(ctx, store.DriverMySQL, cfg.FormatDSN(), store.Options{})
	if err != nil {
		t.Fatalf("open with %s: %v", cfg.Collation, err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	in := mustInstall(t, db, "acme")
	if got, err := db.InstallBySlug(ctx, "acme"); err != nil || got.ID != in.ID {
		t.Fatalf("install by slug: %+v, %v", got, err)
	}
}
