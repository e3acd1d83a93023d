package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/api"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limiterFixture is a host on a clock of its own, with one user's token
// and the operator token.
type limiterFixture struct {
	h        http.Handler
	clock    *fakeClock
	token    string
	operator string
}

func newLimiterFixture(t *testing.T, db *store.DB, trustedProxies ...string) limiterFixture {
	t.Helper()
	ctx := context.Background()
	svc, err := service.New(db)
	if err != nil {
		t.Fatal(err)
	}
	f := limiterFixture{clock: &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, operator: "op-" + strings.Repeat("k", 40)}
	f.h, err = api.New(api.Options{
		Service: svc, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready: func(ctx context.Context) error { return db.Ping(ctx) }, OperatorToken: f.operator,
		TrustedProxies: trustedProxies, Now: f.clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.AddUser(ctx, in, service.NewUser{Email: "alice@acme.test", Role: crm.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	if f.token, err = svc.CreateToken(ctx, u, "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends method path with a bearer token (none when ""), from the
// peer address 192.0.2.1 and, when given, with X-Forwarded-For.
func (f limiterFixture) do(method, path, token, forwardedFor string) response {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// badToken has the shape of a token, so that it is looked up like one.
const badToken = "cg_0000000000000000000000000000000000000000000"

// TestBadTokensDoNotLockOutValidOnes: behind one address (a NAT, a proxy)
// one client keeps sending a bad token between the valid requests of
// others. Every valid request is answered; the bad ones get 401 while the
// address has failures to spend, then 429.
func TestBadTokensDoNotLockOutValidOnes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newLimiterFixture(t, db)
		var unauthorized, limited int
		for i := range 100 {
			f.clock.advance(100 * time.Millisecond) // ten bad tokens a second
			bad := f.do("GET", "/v1/me", badToken, "")
			switch bad.status {
			case http.StatusUnauthorized:
				unauthorized++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("bad token %d: %d %s", i, bad.status, bad.body)
			}
			if r := f.do("GET", "/v1/me", f.token, ""); r.status != http.StatusOK {
				t.Fatalf("valid request %d after %d bad tokens (%d refused with 429): %d %s", i, i+1, limited, r.status, r.body)
			}
			if r := f.do("POST", "/v1/admin/plugins/hello/restart", f.operator, ""); r.status != http.StatusNotFound {
				t.Fatalf("operator request %d: %d %s, want 404 unknown_plugin (this host runs none)", i, r.status, r.body)
			}
		}
		// 10 s of ten a second: the burst of 20, then one a second.
		if unauthorized < 20 || unauthorized > 31 || limited == 0 {
			t.Fatalf("%d bad tokens answered 401 and %d 429, want the burst of 20 and about one a second", unauthorized, limited)
		}
		t.Logf("100 bad tokens: %d answered 401, %d 429; 200 valid requests: all answered", unauthorized, limited)
	})
}

// TestRetryAfterIsTheTruth: the 429's Retry-After is the whole seconds,
// rounded up, after which a bad token is answered 401 again.
func TestRetryAfterIsTheTruth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newLimiterFixture(t, db)
		for _, tc := range []struct {
			name, method, path, token string
		}{
			{"UserToken", "GET", "/v1/me", badToken},
			{"NoToken", "GET", "/v1/me", ""},
			{"OperatorToken", "POST", "/v1/admin/plugins/hello/restart", "op-wrong"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f.clock.advance(time.Hour) // every budget whole again
				bad := func() response { return f.do(tc.method, tc.path, tc.token, "") }
				for i := range 20 {
					if r := bad(); r.status != http.StatusUnauthorized {
						t.Fatalf("failure %d of the burst: %d %s", i+1, r.status, r.body)
					}
				}
				retryAfter := func(r response) string {
					t.Helper()
					if r.status != http.StatusTooManyRequests || r.errorCode(t) != "too_many_failures" {
						t.Fatalf("got %d %s, want 429 too_many_failures", r.status, r.body)
					}
					return r.header.Get("Retry-After")
				}
				r := bad()
				if got := retryAfter(r); got != "1" {
					t.Fatalf("Retry-After %q when a failure comes back in 1 s", got)
				}
				if !strings.Contains(string(r.body), "for 1 more second") {
					t.Fatalf("the message does not say how long: %s", r.body)
				}
				f.clock.advance(300 * time.Millisecond)
				if got := retryAfter(bad()); got != "1" {
					t.Fatalf("Retry-After %q with 0.7 s to wait, want 1 (rounded up)", got)
				}
				f.clock.advance(699 * time.Millisecond)
				if got := retryAfter(bad()); got != "1" {
					t.Fatalf("Retry-After %q with 1 ms to wait, want 1", got)
				}
				f.clock.advance(time.Millisecond)
				if r := bad(); r.status != http.StatusUnauthorized {
					t.Fatalf("after the Retry-After: %d %s, want 401", r.status, r.body)
				}
				// Three seconds of quiet give three failures back.
				f.clock.advance(3 * time.Second)
				for i := range 3 {
					if r := bad(); r.status != http.StatusUnauthorized {
						t.Fatalf("failure %d after 3 s: %d %s", i+1, r.status, r.body)
					}
				}
				if got := retryAfter(bad()); got != "1" {
					t.Fatalf("Retry-After %q, want 1", got)
				}
			})
		}
	})
}

// TestTrustedProxyClientsHaveBudgetsOfTheirOwn: behind a proxy named in
// the trusted proxies, each client's failures are counted by the address
// the proxy forwards, not the proxy's own.
func TestTrustedProxyClientsHaveBudgetsOfTheirOwn(t *testing.T) {
	const proxy = "192.0.2.1" // httptest's peer address
	for _, tc := range []struct {
		name    string
		trusted []string
		shared  bool
	}{
		{"Trusted", []string{proxy}, false},
		{"NotTrusted", nil, true}, // the forwarded address is not believed
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLimiterFixture(t, storetest.SQLite(t), tc.trusted...)
			for range 21 {
				f.do("GET", "/v1/me", badToken, "203.0.113.7")
			}
			r := f.do("GET", "/v1/me", badToken, "203.0.113.8")
			if shared := r.status == http.StatusTooManyRequests; shared != tc.shared {
				t.Fatalf("a bad token from another client behind the proxy: %d %s", r.status, r.body)
			}
		})
	}
}
