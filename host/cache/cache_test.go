package cache_test

import (
	"context"
	"encoding/json"

	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/cache/cachetest"
)

func testRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	return cachetest.Redis(t)
}

func newCache(t *testing.T, opts cache.Options) *cache.Cache {
	t.Helper()
	c, err := cache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func decodeString(raw []byte) (any, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

var (
	gen    = cache.RecordGen("I1", "lead", "R1")
	other  = cache.RecordGen("I1", "lead", "R2")
	gens   = []string{gen}
	values = []string{"rec:R1"}
)

func TestLocal(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, cache.Options{})
	s := c.Snapshot(ctx, "I1", gens, values)
	c.Put(ctx, "rec:R1", "v1", s, gens)
	if v, ok := c.Get("rec:R1", c.Snapshot(ctx, "I1", gens, values), decodeString); !ok || v != "v1" {
		t.Fatalf("got %v %v", v, ok)
	}
	if err := c.Invalidate(ctx, "I1", []string{other}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("rec:R1", c.Snapshot(ctx, "I1", gens, values), decodeString); !ok {
		t.Fatal("a change to another record voided this one")
	}
	if err := c.Invalidate(ctx, "I1", gens, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("rec:R1", c.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatalf("an invalidated value was used: %v", v)
	}
	// A snapshot taken before the bump cannot vouch for a later value.
	old := s
	c.Put(ctx, "rec:R1", "stale", old, gens)
	if _, ok := c.Get("rec:R1", c.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatal("a value loaded under old counters was used")
	}
}

// TestReplicasShareInvalidation runs two caches on one Redis, as two
// replicas: a value one caches is found by the other, and after either
// invalidates, neither uses it again.
func TestReplicasShareInvalidation(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testRedis(t)
	a := newCache(t, cache.Options{Redis: rdb, Prefix: prefix})
	b := newCache(t, cache.Options{Redis: rdb, Prefix: prefix})

	s := a.Snapshot(ctx, "I1", gens, values)
	if !s.OK() {
		// The first snapshot of a Redis without an epoch starts one.
		s = a.Snapshot(ctx, "I1", gens, values)
	}
	a.Put(ctx, "rec:R1", "v1", s, gens)
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); !ok || v != "v1" {
		t.Fatalf("replica b did not find a's value in Redis: %v %v", v, ok)
	}
	if err := a.Invalidate(ctx, "I1", gens, []string{"rec:R1"}); err != nil {
		t.Fatal(err)
	}
	// No waiting for pub/sub: the counters alone decide.
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatalf("replica b used %v after a invalidated it", v)
	}
	if v, ok := a.Get("rec:R1", a.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatalf("replica a used %v after invalidating it", v)
	}
}

// waitTrusted waits until c answers warm requests from its mirror.
func waitTrusted(t *testing.T, c *cache.Cache) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Trusted() {
		if time.Now().After(deadline) {
			t.Fatal("the mirror of the counters was not trusted within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWarmLookupRoundTrips checks the budget of a warm lookup: the counters
// of several entries validated with no Redis round trip when the mirror
// holds them, and with exactly one when a counter must be read again
// because another replica bumped it.
func TestWarmLookupRoundTrips(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testRedis(t)
	opts := rdb.(*redis.Client).Options()
	counted := redis.NewClient(opts)
	defer counted.Close()
	hook := &cachetest.Counter{}
	counted.AddHook(hook)
	// A long trust window, so that a slow machine does not lose the trust
	// between two lines; no health pings, which would be counted too.
	c := newCache(t, cache.Options{Redis: counted, Prefix: prefix, HealthEvery: time.Hour, TrustWindow: 2 * time.Second})
	writer := newCache(t, cache.Options{Redis: rdb, Prefix: prefix, TrustWindow: 2 * time.Second})

	all := []string{cache.InstallGen("I1"), cache.UserGen("I1", "U1"), gen}
	s := c.Snapshot(ctx, "I1", all, nil)
	if !s.OK() {
		s = c.Snapshot(ctx, "I1", all, nil)
	}
	c.Put(ctx, "tok", "principal", s, all[:2])
	c.Put(ctx, "pol", "policy", s, all[:2])
	waitTrusted(t, c)

	lookup := func() int64 {
		t.Helper()
		before := hook.Count()
		warm := c.Snapshot(ctx, "I1", all, nil)
		for _, k := range []string{"tok", "pol"} {
			if _, ok := c.Get(k, warm, decodeString); !ok {
				t.Fatalf("%s missed", k)
			}
		}
		return hook.Count() - before
	}
	lookup() // the mirror learns the counters
	if n := lookup(); n != 0 {
		t.Fatalf("a warm lookup of two entries took %d Redis round trips, want 0", n)
	}
	// Another replica bumps the record's counter: it is read again, once.
	if err := writer.Invalidate(ctx, "I1", []string{gen}, nil); err != nil {
		t.Fatal(err)
	}
	if n := lookup(); n != 1 {
		t.Fatalf("a lookup after a bump took %d Redis round trips, want 1", n)
	}
	if n := lookup(); n != 0 {
		t.Fatalf("a warm lookup after relearning took %d Redis round trips, want 0", n)
	}
}

// TestMirrorNeverOutlivesInvalidation warms replica b, invalidates on
// replica a and asks b at once, many times over: b never uses what a
// invalidated, though it answers from its mirror whenever it can.
func TestMirrorNeverOutlivesInvalidation(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testRedis(t)
	reg := prometheus.NewRegistry()
	a := newCache(t, cache.Options{Redis: rdb, Prefix: prefix})
	b := newCache(t, cache.Options{Redis: rdb, Prefix: prefix, Registry: reg})
	waitTrusted(t, b)
	for i := range 50 {
		s := b.Snapshot(ctx, "I1", gens, values)
		if !s.OK() {
			s = b.Snapshot(ctx, "I1", gens, values)
		}
		b.Put(ctx, "rec:R1", i, s, gens)
		if _, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); !ok {
			t.Fatalf("round %d: b missed its own fresh value", i)
		}
		if err := a.Invalidate(ctx, "I1", gens, nil); err != nil { // no L1 drop asked: counters alone decide
			t.Fatal(err)
		}
		if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); ok {
			t.Fatalf("round %d: replica b used %v after a invalidated it", i, v)
		}
	}
	if n := snapshots(t, reg, "mirror"); n == 0 {
		t.Fatal("replica b never answered from its mirror: the test did not exercise it")
	}
}

// snapshots returns how many snapshots a cache took from source.
func snapshots(t *testing.T, reg *prometheus.Registry, source string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "crmguard_cache_snapshots_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestMirrorForgetsLostCounters deletes an install's counters from Redis
// under a replica whose mirror holds them (a Redis that lost its data
// without dropping connections): once the replica sees the new epoch, it
// trusts none of the old counters, even when Redis's counters climb back to
// the old values.
func TestMirrorForgetsLostCounters(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testRedis(t)
	a := newCache(t, cache.Options{Redis: rdb, Prefix: prefix, TrustWindow: time.Second})
	b := newCache(t, cache.Options{Redis: rdb, Prefix: prefix})
	for range 3 {
		if err := b.Invalidate(ctx, "I1", []string{other}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitTrusted(t, a)
	both := []string{gen, other}
	for range 2 { // the first snapshot may start the epoch; the second teaches the mirror
		a.Snapshot(ctx, "I1", both, nil)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of the test: %v %v", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	// gen is bumped (dropping it from a's mirror); a then reads the new
	// epoch from Redis with gen alone, while its mirror still holds other.
	if err := b.Invalidate(ctx, "I1", []string{gen}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a.Snapshot(ctx, "I1", gens, nil)
	}
	waitTrusted(t, a)
	s := a.Snapshot(ctx, "I1", both, nil)
	a.Put(ctx, "rec:R2", "before the bumps", s, []string{other})
	for range 3 { // other climbs back to the value the mirror held
		if err := b.Invalidate(ctx, "I1", []string{other}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok := a.Get("rec:R2", a.Snapshot(ctx, "I1", both, nil), decodeString); ok {
		t.Fatalf("replica a used %v, loaded before three bumps", v)
	}
}

// TestOutage stops Redis while a value is cached and a change cannot be
// announced: nothing cached is used during the outage, and after Redis
// returns (with its data) the stale value is never used, on this replica
// or another.
func TestOutage(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.StartServer(t)
	client := srv.Client(t)
	a := newCache(t, cache.Options{Redis: client, Prefix: "p:", HealthEvery: 50 * time.Millisecond})

	s := a.Snapshot(ctx, "I1", gens, values)
	if !s.OK() {
		s = a.Snapshot(ctx, "I1", gens, values)
	}
	a.Put(ctx, "rec:R1", "before", s, gens)

	srv.Stop(t)
	// The mirror stays trusted no longer than a trust window after Redis's
	// last answer.
	deadline := time.Now().Add(time.Second)
	for a.Trusted() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if a.Snapshot(ctx, "I1", gens, values).OK() {
		t.Fatal("a snapshot succeeded with Redis down")
	}
	if a.Healthy() {
		t.Fatal("the cache calls itself healthy with Redis down")
	}
	if err := a.Invalidate(ctx, "I1", gens, []string{"rec:R1"}); err == nil {
		t.Fatal("an invalidation reported success with Redis down")
	}

	srv.Start(t) // same port, same data directory: the counters survive
	deadline = time.Now().Add(10 * time.Second)
	for !a.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the cache did not recover within 10 s of Redis coming back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v, ok := a.Get("rec:R1", a.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatalf("replica a used %v, stamped before the outage", v)
	}
	b := newCache(t, cache.Options{Redis: client, Prefix: "p:", HealthEvery: 50 * time.Millisecond})
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); ok {
		t.Fatalf("replica b used %v from Redis, stamped before the outage", v)
	}
	fresh := a.Snapshot(ctx, "I1", gens, values)
	a.Put(ctx, "rec:R1", "after", fresh, gens)
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", gens, values), decodeString); !ok || v != "after" {
		t.Fatalf("caching did not resume: %v %v", v, ok)
	}
}

// TestCancelledRequestIsNotAnOutage checks that a request whose client left
// does not make the cache distrust a healthy Redis.
func TestCancelledRequestIsNotAnOutage(t *testing.T) {
	rdb, prefix := testRedis(t)
	c := newCache(t, cache.Options{Redis: rdb, Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.Snapshot(ctx, "I1", gens, values).OK() {
		t.Fatal("a cancelled snapshot succeeded")
	}
	if !c.Healthy() {
		t.Fatal("a cancelled request marked the cache unhealthy")
	}
}

// TestCluster runs two replicas' caches on a Redis Cluster: one request's
// keys share a slot (one MGET), and invalidation reaches the other replica.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	addrs := cachetest.StartCluster(t)
	client := func() redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := newCache(t, cache.Options{Redis: client(), Prefix: "p:"})
	b := newCache(t, cache.Options{Redis: client(), Prefix: "p:"})
	all := []string{cache.InstallGen("I1"), cache.UserGen("I1", "U1"), gen, other}
	s := a.Snapshot(ctx, "I1", all, values)
	if !s.OK() {
		s = a.Snapshot(ctx, "I1", all, values)
	}
	if !s.OK() {
		t.Fatal("snapshots fail on a cluster")
	}
	a.Put(ctx, "rec:R1", "v1", s, gens)
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", all, values), decodeString); !ok || v != "v1" {
		t.Fatalf("replica b did not find a's value on the cluster: %v %v", v, ok)
	}
	if err := a.Invalidate(ctx, "I1", gens, []string{"rec:R1"}); err != nil {
		t.Fatal(err)
	}
	if v, ok := b.Get("rec:R1", b.Snapshot(ctx, "I1", all, values), decodeString); ok {
		t.Fatalf("replica b used %v after a invalidated it", v)
	}
	if !a.Healthy() || !b.Healthy() {
		t.Fatal("a cache calls the cluster unhealthy")
	}
}
