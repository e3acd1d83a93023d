package chaos_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestRedisOutage kills the Redis that two replicas of the host share,
// under reads, decisions and changes from both installs, and starts it
// again. The README promises that while Redis is down the host answers
// from the database, never stale, and refuses changes with 503
// cache_unavailable: no answer shows what strict-ownership hides or what
// was revoked (a share revoked before the outage, a delegation revoked
// after it), reads are never refused, and changes resume within 2 s of
// Redis being back.
func TestRedisOutage(t *testing.T) {
	w := newWorld(t, storetest.MySQLDSN(t))
	replicas := []*harness.Server{w.Server, w.CLI.Serve()}

	// Bob's share of Alice's lead is in every replica's caches, then
	// revoked on the first.
	for _, in := range w.installs() {
		for _, rep := range replicas {
			on(rep, in.Bob).Must(200, "GET", recordPath("lead", in.Records["alice"]["lead"]), nil)
		}
		in.Manager.Must(204, "DELETE", "/v1/plugins/strict-ownership/api/records/lead/"+in.Records["alice"]["lead"]+"/shares/"+in.ShareID, nil)
	}

	reads, changes := newTally(), newTally("cache_unavailable")
	revoked := map[string]*revocation{} // of Alice's delegation to Bob, by install
	var steps []func()
	for _, in := range w.installs() {
		at := &revocation{}
		for _, rep := range replicas {
			r := &redisReader{in: in, bob: on(rep, in.Bob), service: on(rep, in.Service), revoked: at, tl: reads}
			steps = append(steps, r.step)
		}
		for i, m := range members(in) {
			m.c = on(replicas[i], m.c)
			steps = append(steps, changeOwnLead(changes, in, m))
		}
		revoked[in.Slug] = at
	}

	l := startLoad(steps...)
	time.Sleep(time.Second)
	killedAt := time.Now()
	w.Redis.Stop(t)
	time.Sleep(time.Second)
	for _, in := range w.installs() { // revoking during the outage: refused, as every change of access
		r := revoked[in.Slug].revoke(in.Alice, in.DelegationID)
		t.Logf("%s: a delegation revoked while Redis is down: %d %s", in.Slug, r.Status, r.ErrorCode())
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "cache_unavailable" {
			t.Errorf("%s: a delegation revoked while Redis is down: %d %s, want 503 cache_unavailable", in.Slug, r.Status, short(r.Body))
		}
	}
	time.Sleep(time.Second)
	refusedDuring := changes.unavailable()
	w.Redis.Start(t)
	backAt := time.Now()
	resumed := changes.waitFirstWriteAfter(t, backAt, 15*time.Second)
	for _, in := range w.installs() { // or done once Redis is back
		harness.WaitFor(t, in.Slug+": revoking the delegation", 10*time.Second, func() bool {
			return revoked[in.Slug].done.Load() || revoked[in.Slug].revoke(in.Alice, in.DelegationID).Status == http.StatusNoContent
		})
	}
	time.Sleep(time.Second)
	l.stop()

	t.Logf("Redis down for %s; changes resumed %s after it was back", seconds(backAt.Sub(killedAt)), seconds(resumed))
	t.Logf("reads and decisions by status: %s", reads)
	t.Logf("changes by status: %s", changes)
	reads.check(t, "reads and decisions through the Redis outage")
	changes.check(t, "changes through the Redis outage")
	if refusedDuring == 0 {
		t.Error("no change was refused while Redis was down: the load did not reach the outage")
	}
	if resumed > 2*time.Second {
		t.Errorf("changes resumed %s after Redis was back, want within 2 s", seconds(resumed))
	}
	t.Run("events", func(t *testing.T) { checkEvents(t, w) })
}

// redisReader is Bob of one install reading, on one replica, what he may
// and may not see, and asking the decision API about it.
type redisReader struct {
	in           *harness.Install
	bob, service harness.Client
	revoked      *revocation // of Alice's delegation to Bob
	tl           *tally
}

// revocation is a revocation of a delegation as the readers judge it: an
// answer that came before it was asked for shows the delegation, one asked
// after it was done does not; in between, either is right.
type revocation struct {
	asked, done atomic.Bool
}

// revoke asks for the revocation, as the delegator, and returns the
// answer; a refusal changed nothing.
func (rv *revocation) revoke(delegator harness.Client, id string) harness.Reply {
	rv.asked.Store(true)
	r := delegator.Do("DELETE", "/v1/plugins/delegation/api/delegations/"+id, nil)
	if r.Status == http.StatusNoContent {
		rv.done.Store(true)
	} else {
		rv.asked.Store(false)
	}
	return r
}

// step asks each question once.
func (rr *redisReader) step() {
	alice, mine := rr.in.Records["alice"], rr.in.Records["bob"]
	rr.get("alice's contact (strict-ownership hides it)", recordPath("contact", alice["contact"]), http.StatusNotFound)
	rr.get("alice's lead (its share revoked)", recordPath("lead", alice["lead"]), http.StatusNotFound)
	rr.get("his own lead", recordPath("lead", mine["lead"]), http.StatusOK)
	revoked := rr.revoked.done.Load()
	r, ok := rr.tl.send(rr.bob, "GET", recordPath("account", alice["account"]), nil)
	switch {
	case !ok:
	case revoked && r.Status != http.StatusNotFound:
		rr.tl.wrongf("%s: bob reads alice's account after its delegation was revoked: %d", rr.in.Slug, r.Status)
	case !rr.revoked.asked.Load() && r.Status != http.StatusOK:
		rr.tl.wrongf("%s: bob reads alice's account, delegated to him: %d %s", rr.in.Slug, r.Status, short(r.Body))
	}

	r, ok = rr.tl.send(rr.bob, "GET", "/v1/records/contact?limit=200", nil)
	switch {
	case !ok:
	case r.Status != http.StatusOK:
		rr.tl.wrongf("%s: bob's list of contacts: %d %s", rr.in.Slug, r.Status, short(r.Body))
	case strings.Contains(string(r.Body), alice["contact"]):
		rr.tl.wrongf("%s: bob's list of contacts shows alice's", rr.in.Slug)
	}

	checks := []map[string]any{
		{"user_id": rr.in.Bob.ID, "action": "view", "type": "contact", "id": alice["contact"]},
		{"user_id": rr.in.Bob.ID, "action": "view", "type": "lead", "id": alice["lead"]},
	}
	r, ok = rr.tl.send(rr.service, "POST", "/v1/authz/check", map[string]any{"checks": checks})
	var answer struct{ Results []struct{ Allowed bool } }
	switch {
	case !ok:
	case r.Status != http.StatusOK || json.Unmarshal(r.Body, &answer) != nil || len(answer.Results) != len(checks):
		rr.tl.wrongf("%s: decisions: %d %s", rr.in.Slug, r.Status, short(r.Body))
	case answer.Results[0].Allowed || answer.Results[1].Allowed:
		rr.tl.wrongf("%s: the decision API lets bob see alice's hidden contact or her lead no longer shared: %s", rr.in.Slug, r.Body)
	}
}

// get reads a record as Bob and expects want: reads are never refused.
func (rr *redisReader) get(what, path string, want int) {
	r, ok := rr.tl.send(rr.bob, "GET", path, nil)
	if ok && r.Status != want {
		rr.tl.wrongf("%s: bob reads %s: %d %s, want %d", rr.in.Slug, what, r.Status, short(r.Body), want)
	}
}
