package access_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// shape reads a policy's structure from fuzz bytes; the values (users,
// teams, sources, the subject) come from name, so that the same shape can
// be compiled with two sets of values.
type shape struct {
	data []byte
	pos  int
}

func (s *shape) next() int {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return int(b)
}

func policyFrom(data []byte, name func(i int) string) (sdk.Policy, access.Subject, sdk.Action, sdk.RecordType) {
	s := &shape{data: data}
	n := 0
	names := func() []string {
		var out []string
		for range s.next() % 4 {
			out = append(out, name(n))
			n++
		}
		return out
	}
	cond := func() sdk.Cond {
		c := sdk.Cond{Kind: sdk.CondKinds[s.next()%len(sdk.CondKinds)], Origin: name(n)}
		n++
		switch c.Kind {
		case sdk.CondOwnerIn:
			c.Users = names()
		case sdk.CondTeamIn:
			c.Teams = names()
			c.Unteamed = s.next()%2 == 0
		case sdk.CondGranted:
			c.Sources = names()
		case sdk.CondParentAllows:
			c.Depth = s.next() % (sdk.MaxParentDepth + 2) // out of range too
		}
		return c
	}
	var p sdk.Policy
	for range s.next() % 12 {
		var r sdk.Rule
		for range s.next() % 4 {
			r.Any = append(r.Any, cond())
		}
		for range s.next() % 3 {
			r.All = append(r.All, cond())
		}
		p.SetRule(sdk.RecordTypes[s.next()%len(sdk.RecordTypes)], sdk.Actions[s.next()%len(sdk.Actions)], r)
	}
	subject := access.Subject{UserID: name(n), Teams: names()}
	n++
	return p, subject, sdk.Actions[s.next()%len(sdk.Actions)], sdk.RecordTypes[s.next()%len(sdk.RecordTypes)]
}

// FuzzCompile checks that whatever the policy, the compiler's SQL is valid
// (it runs on SQLite), has one argument per placeholder, and never contains
// a value: the same policy with other values compiles to the same text.
func FuzzCompile(f *testing.F) {
	db := storetest.SQLite(f)
	ctx := context.Background()
	for _, seed := range [][]byte{
		{}, {3, 2, 1, 0, 1, 2, 1, 3, 0, 0, 1}, {11, 3, 7, 3, 6, 2, 5, 1, 7, 4, 2, 2, 3, 4},
		{5, 3, 6, 3, 7, 4, 6, 2, 7, 1, 2, 4, 1, 3, 0, 2, 5, 3, 6, 3, 7, 4}, {1, 1, 7, 5, 0, 4, 1, 3, 3},
	} {
		f.Add(seed, "u'1; DROP TABLE x; --")
	}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		p, s, action, typ := policyFrom(data, func(i int) string { return fmt.Sprintf("%s#%d", value, i) })
		other, otherSubject, _, _ := policyFrom(data, func(i int) string { return fmt.Sprintf("other-%d", i) })
		c := access.Compile(p, s, action, typ, now)
		d := access.Compile(other, otherSubject, action, typ, now)
		if c.SQL != d.SQL || c.Kind != d.Kind {
			t.Fatalf("the SQL depends on the values:\n%s\n%s", c.SQL, d.SQL)
		}
		if got := strings.Count(c.SQL, "?"); got != len(c.Args) {
			t.Fatalf("%d placeholders, %d arguments: %s", got, len(c.Args), c.SQL)
		}
		if strings.ContainsAny(c.SQL, "'\";`") {
			t.Fatalf("the SQL holds a quote or statement separator: %s", c.SQL)
		}
		if c.Kind != access.FilterConditional {
			return
		}
		q := store.RecordQuery{InstallID: crm.NewID(), Type: typ, Limit: 1, Where: []store.Predicate{{SQL: c.SQL, Args: c.Args}}}
		if _, err := db.ListRecords(ctx, q); err != nil {
			t.Fatalf("invalid SQL: %v\n%s", err, c.SQL)
		}
	})
}

// FuzzPolicyDocument feeds the engine a policy document as a plugin
// returns it (JSON) over a small install in SQLite. A document that
// validates never makes Evaluate, Compile or ListBranches panic, its
// compiled SQL and its list branches select exactly the records Evaluate
// allows, and it never allows deleting what it does not allow editing.
// The users u0 to u3 and the teams t0 to t2 that a document names are the
// install's; subject picks the user and their teams.
func FuzzPolicyDocument(f *testing.F) {
	db := storetest.SQLite(f)
	w := newWorld(f, db, rand.New(rand.NewPCG(16, 16)))
	base, err := json.Marshal(access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: "member"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base, byte(0))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, doc []byte, subject byte) {
		var p sdk.Policy
		if json.Unmarshal(doc, &p) != nil || p.Validate() != nil {
			return
		}
		p = w.named(p)
		s := access.Subject{UserID: w.users[int(subject)%len(w.users)]}
		for i, tm := range w.teams {
			if subject>>(2+i)&1 == 1 {
				s.Teams = append(s.Teams, tm)
			}
		}
		for _, typ := range crm.RecordTypes {
			allowed := map[sdk.Action][]string{}
			for _, a := range crm.Actions {
				for _, r := range w.records {
					if r.Type == typ && access.Evaluate(p, s, a, w.facts(r, sdk.MaxParentDepth), w.now).Allowed {
						allowed[a] = append(allowed[a], r.ID)
					}
				}
				slices.Sort(allowed[a])
			}
			for _, id := range allowed[sdk.ActionDelete] {
				if !slices.Contains(allowed[sdk.ActionEdit], id) {
					t.Fatalf("%s %s: delete allowed without edit", typ, id)
				}
			}
			for _, a := range crm.Actions {
				c := access.Compile(p, s, a, typ, w.now)
				var got []string
				if c.Kind != access.FilterNone {
					q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 1000}
					if c.Kind == access.FilterConditional {
						q.Where = []store.Predicate{{SQL: c.SQL, Args: c.Args}}
					}
					recs, err := db.ListRecords(ctx, q)
					if err != nil {
						t.Fatalf("%s %s: compiled SQL failed: %v\n%s %v", typ, a, err, c.SQL, c.Args)
					}
					for _, r := range recs {
						got = append(got, r.ID)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, allowed[a]) {
					t.Fatalf("%s %s: SQL selects %v, Evaluate allows %v\nSQL %s %v", typ, a, got, allowed[a], c.SQL, c.Args)
				}

				kind, parts := access.ListBranches(p, s, a, typ, w.now)
				got = nil
				if kind != access.FilterNone {
					q := store.RecordQuery{InstallID: w.install.ID, Type: typ, Limit: 1000}
					for _, b := range parts {
						q.AnyOf = append(q.AnyOf, []store.Predicate{{SQL: b.SQL, Args: b.Args, Index: b.Index}})
					}
					got = storetest.ListedIDs(t, db, q)
				}
				var want []string
				for _, id := range allowed[a] {
					if slices.Contains(allowed[sdk.ActionView], id) {
						want = append(want, id)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s %s: the list branches select %v, Evaluate allows %v\nbranches %+v", typ, a, got, want, parts)
				}
			}
		}
	})
}

// named replaces the placeholders u0 to u3 and t0 to t2 of a document by
// the ids of the world's users and teams.
func (w world) named(p sdk.Policy) sdk.Policy {
	swap := func(names []string, prefix string, ids []string) []string {
		out := slices.Clone(names)
		for i, n := range out {
			if k, err := strconv.Atoi(strings.TrimPrefix(n, prefix)); err == nil && strings.HasPrefix(n, prefix) && k >= 0 && k < len(ids) {
				out[i] = ids[k]
			}
		}
		return out
	}
	out := sdk.Policy{Admin: p.Admin}
	for typ, actions := range p.Rules {
		for a, r := range actions {
			var nr sdk.Rule
			for _, c := range r.Any {
				c.Users, c.Teams = swap(c.Users, "u", w.users), swap(c.Teams, "t", w.teams)
				nr.Any = append(nr.Any, c)
			}
			for _, c := range r.All {
				c.Users, c.Teams = swap(c.Users, "u", w.users), swap(c.Teams, "t", w.teams)
				nr.All = append(nr.All, c)
			}
			out.SetRule(typ, a, nr)
		}
	}
	return out
}
