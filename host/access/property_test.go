package access_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// world is a random install: users, teams, records with owners, creators,
// teams and parents, and grants (some expired), both stored and in memory.
type world struct {
	install crm.Install
	users   []string
	teams   []string
	sources []string
	records []crm.Record
	grants  map[string][]access.GrantFact // by record id
	byID    map[string]crm.Record
	now     time.Time
}

func seed(t testing.TB) uint64 {
	if s := os.Getenv("CRMGUARD_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

func newWorld(t testing.TB, db *store.DB, rng *rand.Rand) world {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	w := world{now: now, sources: []string{"strict-ownership", "delegation", "teams"}, grants: map[string][]access.GrantFact{}, byID: map[string]crm.Record{}}
	w.install = crm.Install{ID: crm.NewID(), Slug: "prop", Name: "prop", Settings: crm.DefaultSettings(), CreatedAt: now}
	if err := db.CreateInstall(ctx, w.install); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		u := crm.User{ID: crm.NewID(), InstallID: w.install.ID, Email: fmt.Sprintf("u%d@prop.test", i), Name: "u", Role: crm.RoleMember, CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u.ID)
	}
	for i := range 3 {
		tm := crm.Team{ID: crm.NewID(), InstallID: w.install.ID, Name: fmt.Sprint("team ", i), CreatedAt: now}
		if err := db.CreateTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
		w.teams = append(w.teams, tm.ID)
	}
	maybe := func(from []string) string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return from[rng.IntN(len(from))]
	}
	// Parents are created before children, in an order the domain allows.
	for _, typ := range []crm.RecordType{crm.TypeAccount, crm.TypeLead, crm.TypeContact, crm.TypeOpportunity, crm.TypeActivity, crm.TypeActivity} {
		for range 8 {
			r := crm.Record{
				ID: crm.NewID(), InstallID: w.install.ID, Type: typ, OwnerID: maybe(w.users), CreatedBy: w.users[rng.IntN(len(w.users))],
				TeamID: maybe(w.teams), Data: map[string]any{"name": "r"}, Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			var parents []crm.Record
			for _, p := range w.records {
				if slices.Contains(crm.ParentTypes(typ), p.Type) {
					parents = append(parents, p)
				}
			}
			if len(parents) > 0 && rng.IntN(4) != 0 {
				p := parents[rng.IntN(len(parents))]
				r.Parent = &crm.Ref{Type: p.Type, ID: p.ID}
			}
			if err := db.InsertRecord(ctx, r); err != nil {
				t.Fatal(err)
			}
			w.records = append(w.records, r)
			w.byID[r.ID] = r
		}
	}
	for range 60 {
		r := w.records[rng.IntN(len(w.records))]
		g := crm.Grant{ID: crm.NewID(), InstallID: w.install.ID, RecordType: r.Type, RecordID: r.ID, Source: w.sources[rng.IntN(len(w.sources))], CreatedAt: now}
		if rng.IntN(2) == 0 {
			g.SubjectType, g.SubjectID = access.SubjectUser, w.users[rng.IntN(len(w.users))]
		} else {
			g.SubjectType, g.SubjectID = access.SubjectTeam, w.teams[rng.IntN(len(w.teams))]
		}
		for _, a := range crm.Actions {
			if rng.IntN(2) == 0 {
				g.Actions = append(g.Actions, a)
			}
		}
		switch rng.IntN(4) {
		case 0: // expired a second ago
			exp := now.Add(-time.Second)
			g.ExpiresAt = &exp
		case 1: // expires exactly now: already expired
			exp := now
			g.ExpiresAt = &exp
		case 2:
			exp := now.Add(time.Millisecond)
			g.ExpiresAt = &exp
		}
		if err := db.InsertGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		w.grants[r.ID] = append(w.grants[r.ID], access.GrantFact{
			SubjectType: g.SubjectType, SubjectID: g.SubjectID, Actions: g.Actions, Source: g.Source, ExpiresAt: g.ExpiresAt,
		})
	}
	return w
}

// facts builds a record's facts from memory, parents included.
func (w world) facts(r crm.Record, depth int) access.Facts {
	f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID, Grants: w.grants[r.ID]}
	if r.Parent != nil && depth > 0 {
		p := w.facts(w.byID[r.Parent.ID], depth-1)
		f.Parent = &p
	}
	return f
}

// randomPolicy draws a policy over the world's users, teams and sources,
// with every condition kind.
func (w world) randomPolicy(rng *rand.Rand) sdk.Policy {
	var p sdk.Policy
	p.Admin = rng.IntN(40) == 0
	subset := func(from []string) []string {
		var out []string
		for _, x := range from {
			if rng.IntN(2) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	cond := func() sdk.Cond {
		c := sdk.Cond{Kind: sdk.CondKinds[rng.IntN(len(sdk.CondKinds))], Origin: "test"}
		switch c.Kind {
		case sdk.CondOwnerIn:
			c.Users = subset(w.users)
		case sdk.CondTeamIn:
			c.Teams = subset(w.teams)
			c.Unteamed = rng.IntN(2) == 0
		case sdk.CondGranted:
			c.Sources = subset(w.sources)
		case sdk.CondParentAllows:
			c.Depth = 1 + rng.IntN(sdk.MaxParentDepth)
		}
		return c
	}
	for _, typ := range crm.RecordTypes {
		for _, a := range crm.Actions {
			if rng.IntN(6) == 0 {
				continue // no rule: nothing allowed
			}
			var r sdk.Rule
			for range rng.IntN(4) {
				r.Any = append(r.Any, cond())
			}
			for range rng.IntN(3) {
				r.All = append(r.All, cond())
			}
			p.SetRule(typ, a, r)
		}
	}
	return p
}

// TestEvaluateAgreesWithCompile draws random policies and subjects over a
// random install and checks, for every record type and action, that the
// compiled SQL selects exactly the records the evaluator allows, on SQLite
// and on MySQL. CRMGUARD_TEST_SEED repeats a run. For add, each stored
// record stands for a record proposed with its owner, creator, team and
// parent: its add rule's conditions are decided on those as on a new
// record's (grants aside, which a new record has none of).
func TestEvaluateAgreesWithCompile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := seed(t)
		t.Logf("seed %d (CRMGUARD_TEST_SEED=%d repeats this run)", s, s)
		rng := rand.New(rand.NewPCG(s, s))
		w := newWorld(t, db, rng)
		ctx := context.Background()
		kinds, addKinds := map[access.FilterKind]int{}, map[access.FilterKind]int{}
		for range 60 {
			p := w.randomPolicy(rng)
			subject := access.Subject{UserID: w.users[rng.IntN(len(w.users))]}
			for _, tm := range w.teams {
				if rng.IntN(2) == 0 {
					subject.Teams = append(subject.Teams, tm)
				}
			}
			for _, typ := range crm.RecordTypes {
				for _, a := range crm.Actions {
					c := access.Compile(p, subject, a, typ, w.now)
					kinds[c.Kind]++
					if a == sdk.ActionAdd {
						addKinds[c.Kind]++
					}
					q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 1000}
					if c.Kind == access.FilterConditional {
						q.Where = []store.Predicate{{SQL: c.SQL, Args: c.Args}}
					}
					var got []string
					if c.Kind != access.FilterNone {
						recs, err := db.ListRecords(ctx, q)
						if err != nil {
							t.Fatalf("compiled SQL failed: %v\n%s %v", err, c.SQL, c.Args)
						}
						for _, r := range recs {
							got = append(got, r.ID)
						}
					}
					var want []string
					for _, r := range w.records {
						if r.Type == typ && access.Evaluate(p, subject, a, w.facts(r, sdk.MaxParentDepth), w.now).Allowed {
							want = append(want, r.ID)
						}
					}
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("%s %s: SQL selects %d records, Evaluate allows %d\npolicy %+v\nsubject %+v\nSQL %s %v",
							typ, a, len(got), len(want), p.Rules[typ], subject, c.SQL, c.Args)
					}
				}
			}
		}
		if kinds[access.FilterConditional] == 0 || kinds[access.FilterAll] == 0 || kinds[access.FilterNone] == 0 {
			t.Fatalf("the random policies did not reach every kind of filter: %v", kinds)
		}
		if addKinds[access.FilterConditional] == 0 || addKinds[access.FilterNone] == 0 {
			t.Fatalf("the random policies' add rules did not reach conditions and refusals: %v", addKinds)
		}
	})
}

// TestDeleteNeverWithoutEdit checks the invariant on random policies: no
// record is deletable that is not editable, in Evaluate and in SQL.
func TestDeleteNeverWithoutEdit(t *testing.T) {
	db := storetest.SQLite(t)
	s := seed(t)
	t.Logf("seed %d", s)
	rng := rand.New(rand.NewPCG(s, s+1))
	w := newWorld(t, db, rng)
	for range 200 {
		p := w.randomPolicy(rng)
		p.Admin = false
		subject := access.Subject{UserID: w.users[rng.IntN(len(w.users))], Teams: w.teams[:rng.IntN(len(w.teams)+1)]}
		for _, r := range w.records {
			f := w.facts(r, sdk.MaxParentDepth)
			del := access.Evaluate(p, subject, sdk.ActionDelete, f, w.now)
			if del.Allowed && !access.Evaluate(p, subject, sdk.ActionEdit, f, w.now).Allowed {
				t.Fatalf("delete allowed without edit on %s %s: %+v", r.Type, r.ID, del.Reason)
			}
		}
	}
}

// TestListBranchesAgreeWithEvaluate draws random policies and subjects and
// checks, for every record type and action, that listing by the branches
// of ListBranches, a few records a page, lists exactly the records the
// evaluator allows both to view and to take the action on, newest first,
// on SQLite and on MySQL (where many branches are merged in rounds).
func TestListBranchesAgreeWithEvaluate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := seed(t)
		t.Logf("seed %d (CRMGUARD_TEST_SEED=%d repeats this run)", s, s)
		rng := rand.New(rand.NewPCG(s, s+2))
		w := newWorld(t, db, rng)
		most := 0
		for range 30 {
			p := w.randomPolicy(rng)
			subject := access.Subject{UserID: w.users[rng.IntN(len(w.users))], Teams: w.teams[:rng.IntN(len(w.teams)+1)]}
			for _, typ := range crm.RecordTypes {
				for _, a := range crm.Actions {
					kind, parts := access.ListBranches(p, subject, a, typ, w.now)
					most = max(most, len(parts))
					var got []string
					if kind != access.FilterNone {
						q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 3}
						for _, c := range parts {
							q.AnyOf = append(q.AnyOf, []store.Predicate{{SQL: c.SQL, Args: c.Args, Index: c.Index}})
						}
						got = storetest.ListedIDs(t, db, q)
					}
					var want []string
					for _, r := range w.records {
						f := w.facts(r, sdk.MaxParentDepth)
						if r.Type == typ && access.Evaluate(p, subject, sdk.ActionView, f, w.now).Allowed && access.Evaluate(p, subject, a, f, w.now).Allowed {
							want = append(want, r.ID)
						}
					}
					slices.Sort(want)
					slices.Reverse(want)
					if !slices.Equal(got, want) {
						t.Fatalf("%s %s: the branches list %v, Evaluate allows %v\npolicy %+v\nsubject %+v\nbranches %+v",
							typ, a, got, want, p.Rules[typ], subject, parts)
					}
				}
			}
		}
		if most <= 4 {
			t.Fatalf("no policy made more than %d branches: the merge in rounds went untested", most)
		}
	})
}
