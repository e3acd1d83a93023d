package main

import (
	"context"
	"encoding/json"
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
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// propWorld is a random install for the property test: users of a few
// roles (so that each has several role peers) with managers, records of
// every type with owners, creators and parents several levels deep
// (activities under activities), and shares, both stored and in memory.
type propWorld struct {
	install crm.Install
	roles   map[string]crm.Role
	users   []crm.User
	links   crm.ManagerLinks
	records []crm.Record
	byID    map[string]crm.Record
	grants  map[string][]access.GrantFact
	now     time.Time
}

// propRoles are the roles users get; admins are left out, as the plugin
// leaves their policy alone.
var propRoles = []string{crm.RoleMember, crm.RoleManager, "support"}

func propSeed(t *testing.T) uint64 {
	if s := os.Getenv("CRMGUARD_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

func newPropWorld(t *testing.T, db *store.DB, rng *rand.Rand) propWorld {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	w := propWorld{now: now, roles: map[string]crm.Role{}, links: crm.ManagerLinks{}, byID: map[string]crm.Record{}, grants: map[string][]access.GrantFact{}}
	w.install = crm.Install{ID: crm.NewID(), Slug: "prop", Name: "prop", Settings: crm.DefaultSettings(), CreatedAt: now}
	if err := db.CreateInstall(ctx, w.install); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRole(ctx, w.install.ID, crm.Role{Name: "support"}); err != nil {
		t.Fatal(err)
	}
	roles, err := db.ListRoles(ctx, w.install.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		w.roles[r.Name] = r
	}
	for i := range 14 {
		u := crm.User{ID: crm.NewID(), InstallID: w.install.ID, Email: fmt.Sprintf("u%d@prop.test", i), Name: "u",
			Role: propRoles[rng.IntN(len(propRoles))], CreatedAt: now}
		if len(w.users) > 0 && rng.IntN(2) == 0 {
			u.ManagerID = w.users[rng.IntN(len(w.users))].ID
			w.links[u.ID] = u.ManagerID
		}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u)
	}
	someone := func() string {
		if rng.IntN(4) == 0 {
			return ""
		}
		return w.users[rng.IntN(len(w.users))].ID
	}
	// Parents before children; activities under activities too.
	for _, typ := range []crm.RecordType{crm.TypeAccount, crm.TypeLead, crm.TypeContact, crm.TypeOpportunity,
		crm.TypeActivity, crm.TypeActivity, crm.TypeActivity, crm.TypeActivity} {
		for range 8 {
			r := crm.Record{ID: crm.NewID(), InstallID: w.install.ID, Type: typ, OwnerID: someone(),
				CreatedBy: w.users[rng.IntN(len(w.users))].ID, Data: map[string]any{"name": "r"}, Version: 1, CreatedAt: now, UpdatedAt: now}
			var parents []crm.Record
			for _, p := range w.records {
				if slices.Contains(crm.ParentTypes(typ), p.Type) {
					parents = append(parents, p)
				}
			}
			if len(parents) > 0 && rng.IntN(5) != 0 {
				p := parents[len(parents)-1-rng.IntN(min(len(parents), 12))] // the latest: deep chains
				r.Parent = &crm.Ref{Type: p.Type, ID: p.ID}
			}
			if err := db.InsertRecord(ctx, r); err != nil {
				t.Fatal(err)
			}
			w.records = append(w.records, r)
			w.byID[r.ID] = r
		}
	}
	// Shares (the plugin's grants) and another plugin's grants, which
	// the plugin keeps.
	for range 30 {
		r := w.records[rng.IntN(len(w.records))]
		g := crm.Grant{ID: crm.NewID(), InstallID: w.install.ID, RecordType: r.Type, RecordID: r.ID, Source: id,
			SubjectType: access.SubjectUser, SubjectID: w.users[rng.IntN(len(w.users))].ID, Actions: []sdk.Action{sdk.ActionView}, CreatedAt: now}
		if rng.IntN(2) == 0 {
			g.Actions = append(g.Actions, sdk.ActionEdit)
		}
		if rng.IntN(4) == 0 {
			g.Source = "delegation"
		}
		if err := db.InsertGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		w.grants[r.ID] = append(w.grants[r.ID], access.GrantFact{SubjectType: g.SubjectType, SubjectID: g.SubjectID, Actions: g.Actions, Source: g.Source})
	}
	return w
}

// facts builds a record's facts from memory, parents included.
func (w propWorld) facts(r crm.Record, depth int) access.Facts {
	f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, Grants: w.grants[r.ID]}
	if r.Parent != nil && depth > 0 {
		p := w.facts(w.byID[r.Parent.ID], depth-1)
		f.Parent = &p
	}
	return f
}

// user is u as the host gives plugins: with reports and role peers.
func (w propWorld) user(u crm.User) sdk.User {
	var peers []string
	for _, o := range w.users {
		if o.Role == u.Role && o.ID != u.ID {
			peers = append(peers, o.ID)
		}
	}
	return sdk.User{ID: u.ID, Role: u.Role, Reports: w.links.Reports(u.ID), RolePeers: peers}
}

// randomSettings draws settings the plugin accepts: scopes of every kind
// per role, type and action (delete within edit), children of every kind.
func randomSettings(rng *rand.Rand) json.RawMessage {
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	all := append([]string{""}, scopeOrder...)
	roles := map[string]any{}
	for _, role := range propRoles {
		types := map[string]any{}
		for _, t := range sdk.RecordTypes {
			if rng.IntN(4) == 0 {
				continue
			}
			sc := map[string]string{}
			for _, a := range []string{"view", "edit"} {
				if s := pick(all); s != "" {
					sc[a] = s
				}
			}
			var deletes []string
			for _, s := range all {
				if s == "" || sc["edit"] == "" || within(s, sc["edit"]) {
					deletes = append(deletes, s)
				}
			}
			if s := pick(deletes); s != "" {
				sc["delete"] = s
			}
			types[string(t)] = sc
		}
		roles[role] = types
	}
	children := map[string]string{}
	for _, t := range []string{"activity", "contact", "opportunity"} {
		if f := pick([]string{"", followView, followViewEdit}); f != "" {
			children[t] = f
		}
	}
	raw, _ := json.Marshal(map[string]any{"roles": roles, "children": children, "creator_keeps_access": rng.IntN(2) == 0})
	return raw
}

// TestPoliciesCompileToWhatTheyAllow builds policies through the plugin's
// policy hook from random settings (every scope, role peers and reports
// over many users, children following their parents through several
// levels) and checks, for every record type and action, that the SQL the
// host compiles them to selects exactly the records the host's evaluator
// allows, whole and as a list's branches, on SQLite and on MySQL.
// CRMGUARD_TEST_SEED repeats a run.
func TestPoliciesCompileToWhatTheyAllow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed := propSeed(t)
		t.Logf("seed %d (CRMGUARD_TEST_SEED=%d repeats this run)", seed, seed)
		rng := rand.New(rand.NewPCG(seed, seed))
		w := newPropWorld(t, db, rng)
		ctx := context.Background()
		var parentsSeen, peersSeen int
		for range 12 {
			settings := randomSettings(rng)
			if _, err := parse(settings); err != nil {
				t.Fatalf("random settings refused: %v\n%s", err, settings)
			}
			for range 3 {
				u := w.user(w.users[rng.IntN(len(w.users))])
				base := access.BasePolicy(w.install.Settings, w.roles[u.Role])
				p := sdktest.Policy(t, strictOwnership{}, sdk.PolicyRequest{User: u, Settings: settings, Policy: base})
				subject := access.Subject{UserID: u.ID}
				for _, typ := range sdk.RecordTypes {
					for _, a := range sdk.Actions {
						for _, c := range p.Rule(typ, a).Any {
							switch {
							case c.Kind == sdk.CondParentAllows:
								parentsSeen++
							case c.Kind == sdk.CondOwnerIn && len(c.Users) > 1:
								peersSeen++
							}
						}
						var want, wantListed []string
						for _, r := range w.records {
							if r.Type != typ {
								continue
							}
							f := w.facts(r, sdk.MaxParentDepth)
							if access.Evaluate(p, subject, a, f, w.now).Allowed {
								want = append(want, r.ID)
								if access.Evaluate(p, subject, sdk.ActionView, f, w.now).Allowed {
									wantListed = append(wantListed, r.ID)
								}
							}
						}
						c := access.Compile(p, subject, a, typ, w.now)
						var got []string
						if c.Kind != access.FilterNone {
							q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 1000}
							if c.Kind == access.FilterConditional {
								q.Where = []store.Predicate{{SQL: c.SQL, Args: c.Args}}
							}
							recs, err := db.ListRecords(ctx, q)
							if err != nil {
								t.Fatalf("compiled SQL failed: %v\n%s %v", err, c.SQL, c.Args)
							}
							for _, r := range recs {
								got = append(got, r.ID)
							}
						}
						slices.Sort(got)
						slices.Sort(want)
						if !slices.Equal(got, want) {
							t.Fatalf("%s %s of %s: SQL selects %v, Evaluate allows %v\nsettings %s\nrule %+v", typ, a, u.Role, got, want, settings, p.Rules[typ][a])
						}
						kind, parts := access.ListBranches(p, subject, a, typ, w.now)
						var listed []string
						if kind != access.FilterNone {
							q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 5}
							for _, c := range parts {
								q.AnyOf = append(q.AnyOf, []store.Predicate{{SQL: c.SQL, Args: c.Args, Index: c.Index}})
							}
							listed = storetest.ListedIDs(t, db, q)
						}
						slices.Sort(listed)
						slices.Sort(wantListed)
						if !slices.Equal(listed, wantListed) {
							t.Fatalf("%s %s of %s: the branches list %v, Evaluate allows %v\nsettings %s", typ, a, u.Role, listed, wantListed, settings)
						}
					}
				}
			}
		}
		if parentsSeen == 0 || peersSeen == 0 {
			t.Fatalf("the random settings made %d parent_allows and %d owner_in over several users", parentsSeen, peersSeen)
		}
	})
}
