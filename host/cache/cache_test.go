package cache_test

import (
	"context"
	"encoding/json"

	"testing"
	"time"

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

// TestWarmLookupIsOneRoundTrip checks the budget of a warm lookup: the
// counters of several entries validated with a single Redis round trip.
func TestWarmLookupIsOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testRedis(t)
	opts := rdb.(*redis.Client).Options()
	counted := redis.NewClient(opts)
	defer counted.Close()
	hook := &cachetest.Counter{}
	counted.AddHook(hook)
	c := newCache(t, cache.Options{Redis: counted, Prefix: prefix, HealthEvery: time.Hour})

	all := []string{cache.InstallGen("I1"), cache.UserGen("I1", "U1"), gen}
	s := c.Snapshot(ctx, "I1", all, nil)
	if !s.OK() {
		s = c.Snapshot(ctx, "I1", all, nil)
	}
	c.Put(ctx, "tok", "principal", s, all[:2])
	c.Put(ctx, "pol", "policy", s, all[:2])
	c.Put(ctx, "rec:R1", "record", s, all)

	before := hook.Count()
	warm := c.Snapshot(ctx, "I1", all, nil)
	for _, k := range []string{"tok", "pol", "rec:R1"} {
		if _, ok := c.Get(k, warm, decodeString); !ok {
			t.Fatalf("%s missed", k)
		}
	}
	if n := hook.Count() - before; n != 1 {
		t.Fatalf("a warm lookup of three entries took %d Redis round trips, want 1", n)
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
	deadline := time.Now().Add(10 * time.Second)
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
