package access_test

import (
	"context"
	"fmt"
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
