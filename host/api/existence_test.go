package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmguard/crmguard/host/api"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// ownLeads lets members see the leads they own and those shared with them:
// a policy like strict-ownership's, which asks about grants.
func ownLeads(_ context.Context, _ crm.Principal, p sdk.Policy) (sdk.Policy, error) {
	if !p.Admin {
		p.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondGranted, Sources: []string{"test"}}}})
	}
	return p, nil
}

// TestHiddenAnswersAsMissing asks, as a member, about a lead another member
// owns and about an id that names no record, through a get, related
// records, the access tab and the decision API: the answers are alike
// (status, headers, body), and so is the work behind them, cold and warm
// (database statements and Redis round trips), so that no timing tells a
// hidden record from a missing one.
func TestHiddenAnswersAsMissing(t *testing.T) {
	for _, driver := range []string{store.DriverSQLite, store.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			var statements atomic.Int64
			db := storetest.Counted(t, driver, &statements)
			rdb, prefix := cachetest.Redis(t)
			counted := redis.NewClient(rdb.Options())
			defer counted.Close()
			trips := &cachetest.Counter{}
			counted.AddHook(trips)
			// No health pings while counting: they would be counted too.
			c, err := cache.New(cache.Options{Redis: counted, Prefix: prefix, HealthEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			svc, err := service.New(db, service.WithCache(c), service.WithPolicyFilter(ownLeads))
			if err != nil {
				t.Fatal(err)
			}
			h, err := api.New(api.Options{Service: svc, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
				Ready: func(ctx context.Context) error { return db.Ping(ctx) }})
			if err != nil {
				t.Fatal(err)
			}
			in, err := svc.CreateInstall(ctx, "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			member := func(email string) (crm.Principal, client) {
				u, err := svc.AddUser(ctx, in, service.NewUser{Email: email})
				if err != nil {
					t.Fatal(err)
				}
				tok, err := svc.CreateToken(ctx, u, "test")
				if err != nil {
					t.Fatal(err)
				}
				p, err := svc.Authenticate(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				return p, client{t: t, h: h, token: tok, userID: u.ID}
			}
			alice, _ := member("alice@acme.test")
			_, bob := member("bob@acme.test")
			hiddenLead := func() string {
				r, err := svc.CreateRecord(ctx, alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "Hers"}, OwnerID: alice.User.ID})
				if err != nil {
					t.Fatal(err)
				}
				return r.ID
			}
			// Bob's token and permissions are cached before anything is
			// counted, as they are for anyone who probes.
			for range 3 {
				bob.do("GET", "/v1/me", nil)
			}

			// cost is what one request costs and what it answers.
			type cost struct {
				statements, trips int64
				resp              response
			}
			measure := func(req func(id string) response, id string) cost {
				q, r := statements.Load(), trips.Count()
				resp := req(id)
				return cost{statements.Load() - q, trips.Count() - r, resp}
			}
			alike := func(t *testing.T, what string, hidden, missing cost) {
				t.Helper()
				if hidden.statements != missing.statements || hidden.trips != missing.trips {
					t.Errorf("%s: a hidden record costs %d statements and %d Redis round trips, a missing one %d and %d",
						what, hidden.statements, hidden.trips, missing.statements, missing.trips)
				}
				h, m := hidden.resp, missing.resp
				if h.status != m.status || !bytes.Equal(h.body, m.body) || !maps.EqualFunc(h.header, m.header, slices.Equal[[]string]) {
					t.Errorf("%s: a hidden record answers %d %v %s, a missing one %d %v %s", what, h.status, h.header, h.body, m.status, m.header, m.body)
				}
			}
			get := func(suffix string) func(id string) response {
				return func(id string) response {
					return bob.do("GET", "/v1/records/lead/"+id+suffix, nil, "X-Request-ID", "probe")
				}
			}
			for _, tc := range []struct {
				name string
				req  func(id string) response
			}{
				{"Get", get("")},
				{"Related", get("/related")},
				{"Access", get("/access")},
				{"Check", func(id string) response {
					return bob.do("POST", "/v1/authz/check", map[string]any{"explain": true, "checks": []any{
						map[string]any{"action": "view", "type": "lead", "id": id}}}, "X-Request-ID", "probe")
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					hidden, missing := hiddenLead(), crm.NewID()
					if r := tc.req(hidden); r.status/100 == 2 && tc.name != "Check" {
						t.Fatalf("bob sees alice's lead: %d %s", r.status, r.body)
					}
					// That was bob's first request for the hidden lead; its
					// cost is compared with that of a first request for a
					// missing id, then the warm costs, the least of a few.
					coldHidden, coldMissing := hiddenLead(), crm.NewID()
					alike(t, "cold", measure(tc.req, coldHidden), measure(tc.req, coldMissing))
					tc.req(missing)
					least := func(a, b cost) cost {
						a.statements, a.trips = min(a.statements, b.statements), min(a.trips, b.trips)
						return a
					}
					warmHidden, warmMissing := measure(tc.req, hidden), measure(tc.req, missing)
					for range 4 {
						warmHidden = least(warmHidden, measure(tc.req, hidden))
						warmMissing = least(warmMissing, measure(tc.req, missing))
					}
					alike(t, "warm", warmHidden, warmMissing)
				})
			}
		})
	}
}
