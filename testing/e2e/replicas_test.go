package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestTwoReplicas runs two crmguard processes on one MySQL and one Redis (a
// Redis server of the test's own): an access change through replica A is
// honoured by replica B on the very next request, and when Redis stops
// mid-run every answer stays right until it is back.
func TestTwoReplicas(t *testing.T) {
	redisSrv := cachetest.StartServer(t)
	c := newCLI(t, "mysql", storetest.MySQLDSN(t))
	c.env = append(c.env, "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "alice@acme.test")
	c.must("user", "create", "--install", "acme", "--email", "bob@acme.test")
	aliceToken := strings.TrimSpace(c.must("token", "create", "--install", "acme", "--email", "alice@acme.test"))
	bobToken := strings.TrimSpace(c.must("token", "create", "--install", "acme", "--email", "bob@acme.test"))
	appToken := strings.TrimSpace(c.must("token", "create", "--install", "acme", "--service"))

	a, b := c.serve(), c.serve()
	aliceOnA := user{t: t, base: a.base, token: aliceToken}
	bobOnB := user{t: t, base: b.base, token: bobToken}
	appOnB := user{t: t, base: b.base, token: appToken}
	aliceID := aliceOnA.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["id"].(string)
	bobID := bobOnB.must(200, "GET", "/v1/me", nil).object(t)["user"].(map[string]any)["id"].(string)

	lead := aliceOnA.must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Shared lead"}}).object(t)
	path := "/v1/records/lead/" + lead["id"].(string)
	bobMayEdit := func() bool {
		r := appOnB.must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"user_id": bobID, "action": "edit", "type": "lead", "id": lead["id"]}}})
		return strings.Contains(string(r.Body), `"allowed":true`)
	}

	// Warm B: bob edits the unassigned lead there.
	bobOnB.must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "new"}})
	if !bobMayEdit() {
		t.Fatal("B does not let bob edit an unassigned lead")
	}
	// Alice takes the lead on A; B refuses bob on the very next request.
	aliceOnA.must(200, "PUT", path+"/owner", map[string]any{"owner_id": aliceID})
	if r := bobOnB.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "bob"}}); r.Status != http.StatusForbidden || r.code(t) != "not_owner" {
		t.Fatalf("B after A's assignment: %d %s", r.Status, r.Body)
	}
	if bobMayEdit() {
		t.Fatal("B's decision API still lets bob edit")
	}
	if owner := bobOnB.must(200, "GET", path, nil).object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("B serves owner %v, want alice", owner)
	}

	// Redis stops: answers stay right, changes are refused and change nothing.
	redisSrv.Stop(t)
	if owner := bobOnB.must(200, "GET", path, nil).object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("B during the outage serves owner %v", owner)
	}
	if bobMayEdit() {
		t.Fatal("B during the outage lets bob edit alice's lead")
	}
	if r := bobOnB.do("PATCH", path, map[string]any{"data": map[string]any{"stage": "bob"}}); r.Status == http.StatusOK {
		t.Fatal("bob changed alice's lead during the outage")
	}
	r := aliceOnA.do("PUT", path+"/owner", map[string]any{"owner_id": bobID})
	if r.Status != http.StatusServiceUnavailable || r.code(t) != "cache_unavailable" {
		t.Fatalf("a change during the outage: %d %s", r.Status, r.Body)
	}
	if owner := aliceOnA.must(200, "GET", path, nil).object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("the refused change was written: owner %v", owner)
	}

	// Redis is back: changes work again and B follows them at once.
	redisSrv.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := aliceOnA.do("PUT", path+"/owner", map[string]any{"owner_id": bobID})
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes still refused 15 s after Redis came back: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bobMayEdit() {
		t.Fatal("B does not see the reassignment made after the outage")
	}
	bobOnB.must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "bob's now"}})
	a.stop(t)
	b.stop(t)
}
