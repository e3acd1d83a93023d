package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestTwoReplicas runs two crmguard processes on one MySQL and one Redis (a
// Redis server of the test's own): an access change through replica A is
// honoured by replica B on the very next request, and when Redis stops
// mid-run every answer stays right until it is back.
func TestTwoReplicas(t *testing.T) {
	redisSrv := cachetest.StartServer(t)
	c := harness.NewCLI(t, "mysql", storetest.MySQLDSN(t), "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.Must("install", "create", "acme")
	c.Must("user", "create", "--install", "acme", "--email", "alice@acme.test")
	c.Must("user", "create", "--install", "acme", "--email", "bob@acme.test")

	a, b := c.Serve(), c.Serve()
	aliceOnA := c.Login(t, a.Base, "acme", "alice@acme.test")
	bobOnB := c.Login(t, b.Base, "acme", "bob@acme.test")
	appOnB := c.ServiceClient(t, b.Base, "acme")
	aliceID, bobID := aliceOnA.ID, bobOnB.ID

	lead := aliceOnA.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "Shared lead"}}).Object(t)
	path := "/v1/records/lead/" + lead["id"].(string)
	bobMayEdit := func() bool {
		r := appOnB.Must(200, "POST", "/v1/authz/check", map[string]any{"checks": []any{map[string]any{"user_id": bobID, "action": "edit", "type": "lead", "id": lead["id"]}}})
		return strings.Contains(string(r.Body), `"allowed":true`)
	}

	// Warm B: bob edits the unassigned lead there.
	bobOnB.Must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "new"}})
	if !bobMayEdit() {
		t.Fatal("B does not let bob edit an unassigned lead")
	}
	// Alice takes the lead on A; B refuses bob on the very next request.
	aliceOnA.Must(200, "PUT", path+"/owner", map[string]any{"owner_id": aliceID})
	if r := bobOnB.Do("PATCH", path, map[string]any{"data": map[string]any{"stage": "bob"}}); r.Status != http.StatusForbidden || r.ErrorCode() != "not_owner" {
		t.Fatalf("B after A's assignment: %d %s", r.Status, r.Body)
	}
	if bobMayEdit() {
		t.Fatal("B's decision API still lets bob edit")
	}
	if owner := bobOnB.Must(200, "GET", path, nil).Object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("B serves owner %v, want alice", owner)
	}

	// Redis stops: answers stay right, changes are refused and change nothing.
	redisSrv.Stop(t)
	if owner := bobOnB.Must(200, "GET", path, nil).Object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("B during the outage serves owner %v", owner)
	}
	if bobMayEdit() {
		t.Fatal("B during the outage lets bob edit alice's lead")
	}
	if r := bobOnB.Do("PATCH", path, map[string]any{"data": map[string]any{"stage": "bob"}}); r.Status == http.StatusOK {
		t.Fatal("bob changed alice's lead during the outage")
	}
	r := aliceOnA.Do("PUT", path+"/owner", map[string]any{"owner_id": bobID})
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "cache_unavailable" {
		t.Fatalf("a change during the outage: %d %s", r.Status, r.Body)
	}
	if owner := aliceOnA.Must(200, "GET", path, nil).Object(t)["owner_id"]; owner != aliceID {
		t.Fatalf("the refused change was written: owner %v", owner)
	}

	// Redis is back: changes work again and B follows them at once.
	redisSrv.Start(t)
	if !harness.Within(15*time.Second, func() bool {
		r = aliceOnA.Do("PUT", path+"/owner", map[string]any{"owner_id": bobID})
		return r.Status == http.StatusOK
	}) {
		t.Fatalf("changes still refused 15 s after Redis came back: %d %s", r.Status, r.Body)
	}
	if !bobMayEdit() {
		t.Fatal("B does not see the reassignment made after the outage")
	}
	bobOnB.Must(200, "PATCH", path, map[string]any{"data": map[string]any{"stage": "bob's now"}})
	a.Stop(t)
	b.Stop(t)
}
