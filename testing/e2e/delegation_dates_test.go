package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	// The test works out Auckland's midnights itself, on any machine.
	_ "time/tzdata"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestDelegationDates runs plugins/delegation with strict-ownership in
// two replicas on MySQL and Redis, with a clock a file moves, in an
// install whose time zone is Pacific/Auckland: a delegation "until" a day
// a few days ahead ends at the midnight that ends that day in Auckland,
// which the answer says in UTC; the delegate still has the record 20
// seconds before that instant and has lost it just after, on the other
// replica too. Then an admin deletes every delegation of the install in
// one call, confirmed by their number, after a wrong number was refused
// with nothing deleted; each revocation is in its record's history.
func TestDelegationDates(t *testing.T) {
	offset := filepath.Join(t.TempDir(), "clock-offset")
	s := startAcmeWith(t, []string{"CRMGUARD_CLOCK_OFFSET_FILE=" + offset}, "strict-ownership", "delegation")
	a, b, login := s.a, s.b, s.login
	admin := login("admin@acme.test", a.Base)
	for _, name := range []string{"alice", "bob", "carol"} {
		admin.Must(201, "POST", "/v1/users", map[string]any{"email": name + "@acme.test", "name": name})
	}
	alice, bob, carol := login("alice@acme.test", a.Base), login("bob@acme.test", a.Base), login("carol@acme.test", a.Base)
	onB := func(c harness.Client) harness.Client { c.Base = b.Base; return c }
	aliceOnB, bobOnB, carolOnB := onB(alice), onB(bob), onB(carol)

	// The install's time zone: UTC until the admin sets it; a zone that
	// is the machine's, not the IANA database's, is refused.
	if tz := admin.Must(200, "GET", "/v1/settings", nil).Object(t)["timezone"]; tz != "UTC" {
		t.Fatalf("a new install's time zone: %v", tz)
	}
	if r := admin.Must(400, "PUT", "/v1/settings", map[string]any{"timezone": "Local"}); r.ErrorCode() != "invalid_settings" ||
		!strings.Contains(string(r.Body), `timezone: must be the name of a time zone of the IANA database`) {
		t.Fatalf("timezone Local: %s", r.Body)
	}
	admin.Must(200, "PUT", "/v1/settings", map[string]any{"timezone": "Pacific/Auckland"})
	if tz := onB(admin).Must(200, "GET", "/v1/settings", nil).Object(t)["timezone"]; tz != "Pacific/Auckland" {
		t.Fatalf("the time zone on replica B: %v", tz)
	}

	own := map[string]any{"view": "own", "edit": "own", "delete": "own"}
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", map[string]any{"roles": map[string]any{"member": map[string]any{"lead": own}}})
	admin.Must(200, "POST", "/v1/plugins/strict-ownership/activate", nil)
	admin.Must(200, "POST", "/v1/plugins/delegation/activate", nil)
	api := "/v1/plugins/delegation/api"

	var leads []string
	for _, name := range []string{"Kauri Ltd", "Pohutukawa", "Rimu & Co"} {
		leads = append(leads, alice.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": name}, "owner_id": alice.ID}).ID(t))
	}
	lead, probe := leads[0], leads[1]

	// The day three days from today in Auckland, and when it ends there.
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(auckland).AddDate(0, 0, 3)
	endOf := func(d time.Time) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, auckland).UTC()
	}
	dayBefore := day.AddDate(0, 0, -1)
	end := endOf(day)

	// Alice delegates her lead to bob until that day, on replica B: the
	// answer is the instant it ends, in UTC.
	d := aliceOnB.Must(201, "POST", api+"/records/lead/"+lead+"/delegations",
		map[string]any{"user_id": bob.ID, "expires_at": day.Format(time.DateOnly)}).Object(t)
	if d["expires_at"] != end.Format(time.RFC3339) {
		t.Fatalf("a delegation until %s in Auckland ends at %v, want %s", day.Format(time.DateOnly), d["expires_at"], end.Format(time.RFC3339))
	}
	// A probe, to know when the replicas' clocks have moved: her other
	// lead, to bob until the day before.
	p := alice.Must(201, "POST", api+"/records/lead/"+probe+"/delegations",
		map[string]any{"user_id": bob.ID, "expires_at": dayBefore.Format(time.DateOnly)}).Object(t)
	if p["expires_at"] != endOf(dayBefore).Format(time.RFC3339) {
		t.Fatalf("the probe ends at %v, want %s", p["expires_at"], endOf(dayBefore).Format(time.RFC3339))
	}
	// A day of the calendar that is not one is refused, naming both forms.
	if r := alice.Must(400, "POST", api+"/records/lead/"+lead+"/delegations", map[string]any{"user_id": carol.ID, "expires_at": "2026-02-30"}); r.ErrorCode() != "invalid_expiry" ||
		!strings.Contains(string(r.Body), `a day such as \"2026-12-20\"`) || !strings.Contains(string(r.Body), "Pacific/Auckland") {
		t.Fatalf("30 February: %s", r.Body)
	}
	// A bulk delegation to a day: every lead of alice's, to carol.
	bulk := alice.Must(200, "POST", api+"/delegations:bulk", map[string]any{"user_id": carol.ID, "type": "lead", "owner_id": alice.ID,
		"expires_at": day.Format(time.DateOnly)}).Object(t)
	if delegated := bulk["delegated"].([]any); len(delegated) != 3 || delegated[0].(map[string]any)["expires_at"] != end.Format(time.RFC3339) {
		t.Fatalf("bulk delegation until %s: %v", day.Format(time.DateOnly), bulk)
	}
	bobOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil)
	carolOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil)

	moveClock := func(at time.Time) {
		t.Helper()
		if err := os.WriteFile(offset, []byte(time.Until(at).Round(time.Millisecond).String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// 20 seconds before the end: once replica B's clock is past the
	// probe's end (bob has lost that lead there), bob still has the
	// delegated one.
	moveClock(end.Add(-20 * time.Second))
	harness.WaitFor(t, "replica B's clock past the day before's end", 10*time.Second, func() bool {
		return bobOnB.Do("GET", "/v1/records/lead/"+probe, nil).Status == 404
	})
	bobOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil)
	bobOnB.Must(200, "PATCH", "/v1/records/lead/"+lead, map[string]any{"data": map[string]any{"stage": "called"}})
	if ids := bobOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t); len(ids) != 1 || ids[0] != lead {
		t.Fatalf("bob's leads just before the end: %v", ids)
	}

	// A second after: gone, on both replicas, in lists too.
	moveClock(end.Add(time.Second))
	harness.WaitFor(t, "bob losing the lead on replica B after its end", 10*time.Second, func() bool {
		return bobOnB.Do("GET", "/v1/records/lead/"+lead, nil).Status == 404
	})
	harness.WaitFor(t, "bob losing the lead on replica A after its end", 10*time.Second, func() bool {
		return bob.Do("GET", "/v1/records/lead/"+lead, nil).Status == 404
	})
	if ids := bobOnB.Must(200, "GET", "/v1/records/lead", nil).IDs(t); len(ids) != 0 {
		t.Fatalf("bob lists %v after the end", ids)
	}
	carolOnB.Must(404, "GET", "/v1/records/lead/"+lead, nil)
	if items := alice.Must(200, "GET", api+"/records/lead/"+lead+"/delegations?state=expired", nil).Object(t)["items"].([]any); len(items) != 2 {
		t.Fatalf("the plugin, by the host's clock, has %d expired delegations of the lead, want 2", len(items))
	}

	// Back to the wall clock: the delegations count again, until the
	// admin deletes them all.
	if err := os.WriteFile(offset, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, "bob's lead back on replica B", 10*time.Second, func() bool {
		return bobOnB.Do("GET", "/v1/records/lead/"+lead, nil).Status == 200
	})
	alerts := len(bob.Must(200, "GET", "/v1/notifications", nil).Object(t)["items"].([]any))

	if r := alice.Must(403, "DELETE", api+"/delegations?all=true", nil); r.ErrorCode() != "admin_only" {
		t.Fatalf("a member deleting all: %s", r.Body)
	}
	if r := admin.Must(400, "DELETE", api+"/delegations", nil); r.ErrorCode() != "invalid_filter" || !strings.Contains(string(r.Body), "all=true") {
		t.Fatalf("a delete that does not say which: %s", r.Body)
	}
	var all struct{ Items []json.RawMessage }
	json.Unmarshal(admin.Must(200, "GET", api+"/delegations?state=all", nil).Body, &all)
	if len(all.Items) != 5 { // bob's two, carol's three
		t.Fatalf("the install's delegations: %d, want 5", len(all.Items))
	}
	r := admin.Must(409, "DELETE", api+"/delegations?all=true&count=4", nil)
	if r.ErrorCode() != "count_mismatch" || !strings.Contains(string(r.Body), "the install has 5 delegations, not 4; none was deleted") {
		t.Fatalf("a wrong count: %s", r.Body)
	}
	bobOnB.Must(200, "GET", "/v1/records/lead/"+lead, nil)
	json.Unmarshal(admin.Must(200, "GET", api+"/delegations?state=all", nil).Body, &all)
	if len(all.Items) != 5 {
		t.Fatalf("a refused delete-all left %d delegations of 5", len(all.Items))
	}

	if got := onB(admin).Must(200, "DELETE", api+"/delegations?all=true&count=5", nil).Object(t); got["deleted"] != float64(5) {
		t.Fatalf("deleting all: %v", got)
	}
	for _, c := range []harness.Client{bob, bobOnB, carol, carolOnB} {
		for _, id := range leads {
			c.Must(404, "GET", "/v1/records/lead/"+id, nil)
		}
	}
	json.Unmarshal(admin.Must(200, "GET", api+"/delegations?state=all", nil).Body, &all)
	if len(all.Items) != 0 {
		t.Fatalf("after deleting all: %d left", len(all.Items))
	}
	// Each revocation is in its record's history, by the admin; nobody
	// was alerted.
	var access struct {
		Grants  []json.RawMessage
		History []struct {
			Action  string
			ActorID string `json:"actor_id"`
			Detail  map[string]any
		}
	}
	json.Unmarshal(alice.Must(200, "GET", "/v1/records/lead/"+lead+"/access?limit=100", nil).Body, &access)
	revoked := map[any]bool{}
	for _, e := range access.History {
		if e.Action == "grant.revoke" && e.ActorID == admin.ID && e.Detail["source"] == "delegation" {
			revoked[e.Detail["subject_id"]] = true
		}
	}
	if len(access.Grants) != 0 || !revoked[bob.ID] || !revoked[carol.ID] {
		t.Fatalf("the lead's access history after deleting all: %d grants, revoked for %v", len(access.Grants), revoked)
	}
	if n := len(bob.Must(200, "GET", "/v1/notifications", nil).Object(t)["items"].([]any)); n != alerts {
		t.Fatalf("deleting all alerted bob: %d notifications, %d before", n, alerts)
	}
}
