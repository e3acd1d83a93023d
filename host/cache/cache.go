// Package cache keeps what the host derives from the database — principals
// of tokens, policies, records — close at hand, and never longer than it is
// true (DESIGN §8).
//
// Freshness comes from generation counters (per install, user and record):
// an entry is stamped with the counters it depends on, read before the
// value was loaded, and is used only while they are unchanged. Writers
// commit to the database first, then bump the counters; so a request that
// reads the counters after a write has returned never uses what the write
// changed. The counters live in Redis when Redis is configured, shared by
// every replica, and in the process otherwise. A request reads all the
// counters it needs in one round trip (Snapshot), or in none when this
// replica's mirror of the counters is known to be current (see mirror).
//
// Values live in an in-process L1 and, with Redis, in Redis too (L2), so
// that a replica that has not seen a value yet need not go to the database.
// Invalidations are also published, so that other replicas drop their L1
// copies early.
//
// Every Redis key of an install carries the install as a hash tag, so that
// a request's keys live in one slot and one MGET reads them, on a Redis
// Cluster too. Each install also has an epoch, set to a random value when
// missing: a Redis that lost its data (a restart) cannot match a stamp from
// before.
//
// When Redis cannot be reached, nothing cached is trusted: snapshots fail,
// callers read the database, answers stay right and get slower. Bumps that
// failed are kept and applied when Redis answers again, before the cache is
// trusted, and the L1 is emptied.
package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Options configure a Cache.
type Options struct {
	// Redis is the shared store of counters and values; nil keeps
	// everything in the process (one replica).
	Redis redis.UniversalClient
	// Prefix starts every Redis key and channel, so that installs of
	// crmguard (and tests) can share a Redis server.
	Prefix string
	// Entries bounds the L1 (default 100,000).
	Entries int
	// TTL bounds how long a value stays in Redis (default 10 minutes).
	TTL time.Duration
	// Registry receives the cache's metrics; nil registers none.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// HealthEvery is how often an unhealthy cache pings Redis (default 250ms).
	HealthEvery time.Duration
	// TrustWindow is how long after its last confirmation a replica still
	// answers from its mirror of the counters, and so how long every
	// invalidation waits before it returns (default 20ms).
	TrustWindow time.Duration
}

// Cache is the L1 and the counters, with Redis or without.
type Cache struct {
	opts   Options
	log    *slog.Logger
	l1     *otter.Cache[string, entry]
	local  localCounters
	mirror *mirror // counters known without asking Redis; nil without Redis

	healthy atomic.Bool
	pending pendingBumps // bumps that failed while Redis was away

	metrics metrics
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// entry is a value with the counters it was loaded under.
type entry struct {
	value any
	stamp map[string]int64
}

// stored is an entry as kept in Redis.
type stored struct {
	Value json.RawMessage  `json:"v"`
	Stamp map[string]int64 `json:"s"`
}

// epochKey names the counter every stamp includes: per install, random
// when created, so that counters lost with Redis's data never match again.
const epochKey = "epoch"

// redisKey is the Redis key of an install's key: the install is the hash
// tag, so one request's keys share a Cluster slot.
func (c *Cache) redisKey(installID, key string) string {
	return c.opts.Prefix + "{" + installID + "}:" + key
}

// New returns a Cache; with Redis it also starts listening for other
// replicas' invalidations and watching Redis's health.
func New(opts Options) (*Cache, error) {
	if opts.Entries <= 0 {
		opts.Entries = 100_000
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.HealthEvery <= 0 {
		opts.HealthEvery = 250 * time.Millisecond
	}
	if opts.TrustWindow <= 0 {
		opts.TrustWindow = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l1, err := otter.New(&otter.Options[string, entry]{MaximumSize: opts.Entries})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{opts: opts, log: opts.Logger, l1: l1, local: localCounters{m: map[string]int64{}}}
	if c.metrics, err = newMetrics(opts.Registry); err != nil {
		return nil, err
	}
	c.healthy.Store(true)
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	if opts.Redis != nil {
		if c.mirror, err = newMirror(4*opts.Entries, opts.TrustWindow); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		c.done.Add(2)
		go c.watchHealth(ctx)
		go c.listen(ctx)
	}
	return c, nil
}

// Close stops the background work.
func (c *Cache) Close() {
	c.stop()
	c.done.Wait()
}

// Shared reports whether the counters are shared with other replicas
// (Redis is configured).
func (c *Cache) Shared() bool { return c.opts.Redis != nil }

// Healthy reports whether the counters can be read and bumped right now.
// Without Redis it is always true.
func (c *Cache) Healthy() bool { return c.healthy.Load() }

// Keys of the generation counters.

// InstallGen is bumped when an install's roles, settings or plugins change.
func InstallGen(installID string) string { return "gi:" + installID }

// UserGen is bumped when a user's role, teams, manager, reports or tokens
// change.
func UserGen(installID, userID string) string { return "gu:" + installID + ":" + userID }

// RecordGen is bumped when a record or its grants change.
func RecordGen(installID, recordType, id string) string {
	return "gr:" + installID + ":" + recordType + ":" + id
}

// Snapshot is the counters one request reads, once, in one round trip,
// together with the Redis copies of the values it may need.
type Snapshot struct {
	install string
	gens    map[string]int64
	values  map[string][]byte
	ok      bool
}

// OK reports whether the snapshot can validate entries; when it cannot
// (Redis unreachable), callers read the database.
func (s Snapshot) OK() bool { return s.ok }

// Has reports whether the snapshot read the counter gen.
func (s Snapshot) Has(gen string) bool {
	_, ok := s.gens[gen]
	return ok
}

// Snapshot reads the counters gens of one install (and its epoch) and the
// Redis copies of the values valueKeys, in one round trip — or in none,
// when every value is in the L1 and every counter in a trusted mirror.
func (c *Cache) Snapshot(ctx context.Context, installID string, gens []string, valueKeys []string) Snapshot {
	keys := append([]string{epochKey}, gens...)
	if c.opts.Redis == nil {
		c.metrics.snapshot("local")
		return Snapshot{install: installID, gens: c.local.read(keys), ok: true}
	}
	if !c.healthy.Load() {
		c.metrics.snapshot("failed")
		return Snapshot{}
	}
	// Redis copies are fetched only for values the L1 lacks: a warm request
	// reads counters alone. (A stale L1 entry is then loaded from the
	// database, not from Redis.)
	valueKeys = slices.DeleteFunc(slices.Clone(valueKeys), func(k string) bool {
		_, inL1 := c.l1.GetIfPresent(k)
		return inL1
	})
	redisKeys := make([]string, 0, len(keys)+len(valueKeys))
	for _, k := range keys {
		redisKeys = append(redisKeys, c.redisKey(installID, k))
	}
	s := Snapshot{install: installID, gens: make(map[string]int64, len(keys)), ok: true}
	if len(valueKeys) == 0 {
		if counters, ok := c.mirror.read(redisKeys); ok {
			for i, k := range keys {
				s.gens[k] = counters[i]
			}
			c.metrics.snapshot("mirror")
			return s
		}
	}
	for _, k := range valueKeys {
		redisKeys = append(redisKeys, c.redisKey(installID, "v:"+k))
	}
	mark := c.mirror.mark()
	vals, err := c.opts.Redis.MGet(ctx, redisKeys...).Result()
	if err != nil {
		c.redisFailed(ctx, err)
		c.metrics.snapshot("failed")
		return Snapshot{}
	}
	s.values = make(map[string][]byte, len(valueKeys))
	counters := make([]int64, len(keys))
	for i, k := range keys {
		counters[i] = parseCounter(vals[i])
		s.gens[k] = counters[i]
	}
	for i, k := range valueKeys {
		if v, isString := vals[len(keys)+i].(string); isString {
			s.values[k] = []byte(v)
		}
	}
	if s.gens[epochKey] == 0 {
		// No epoch: Redis never had this install's counters, or lost them.
		// A random one cannot match any stamp from before.
		if err := c.opts.Redis.SetNX(ctx, c.redisKey(installID, epochKey), 1+rand.Int64N(1<<62), 0).Err(); err != nil {
			c.redisFailed(ctx, err)
		}
		c.metrics.snapshot("failed")
		return Snapshot{} // this request reads the database; the next one caches
	}
	c.mirror.learn(mark, redisKeys[:len(keys)], counters)
	c.metrics.snapshot("redis")
	return s
}

func parseCounter(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Get returns the value of key if an L1 or Redis copy is stamped with the
// snapshot's counters. decode turns a Redis copy into a value.
func (c *Cache) Get(key string, s Snapshot, decode func([]byte) (any, error)) (any, bool) {
	if !s.ok {
		return nil, false
	}
	if e, ok := c.l1.GetIfPresent(key); ok {
		if s.valid(e.stamp) {
			c.metrics.hit("l1")
			return e.value, true
		}
		c.l1.Invalidate(key)
	}
	c.metrics.miss("l1")
	raw, ok := s.values[key]
	if !ok {
		if c.Shared() {
			c.metrics.miss("redis")
		}
		return nil, false
	}
	var st stored
	if err := json.Unmarshal(raw, &st); err != nil || !s.valid(st.Stamp) {
		c.metrics.miss("redis")
		return nil, false
	}
	v, err := decode(st.Value)
	if err != nil {
		c.metrics.miss("redis")
		return nil, false
	}
	c.metrics.hit("redis")
	c.l1.Set(key, entry{value: v, stamp: st.Stamp})
	return v, true
}

// Peek returns the L1 value of key without validating it: for finding out
// which counters to read. Never act on a peeked value before Get.
func (c *Cache) Peek(key string) (any, bool) {
	e, ok := c.l1.GetIfPresent(key)
	return e.value, ok
}

// valid reports whether every counter of stamp still has the stamped
// value; a stamp naming a counter the snapshot did not read is not valid.
func (s Snapshot) valid(stamp map[string]int64) bool {
	if _, hasEpoch := stamp[epochKey]; !hasEpoch {
		return false
	}
	for k, v := range stamp {
		cur, read := s.gens[k]
		if !read || cur != v {
			return false
		}
	}
	return true
}

// Put stores a value loaded after s was taken, stamped with the counters
// gens as s read them. With Redis the value is stored there too.
func (c *Cache) Put(ctx context.Context, key string, value any, s Snapshot, gens []string) {
	if !s.ok {
		return
	}
	stamp := map[string]int64{epochKey: s.gens[epochKey]}
	for _, g := range gens {
		v, read := s.gens[g]
		if !read {
			return // the snapshot cannot vouch for this value
		}
		stamp[g] = v
	}
	c.l1.Set(key, entry{value: value, stamp: stamp})
	if c.opts.Redis == nil {
		return
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return
	}
	b, _ := json.Marshal(stored{Value: raw, Stamp: stamp})
	if err := c.opts.Redis.Set(ctx, c.redisKey(s.install, "v:"+key), b, c.opts.TTL).Err(); err != nil {
		c.redisFailed(ctx, err)
	}
}

// Invalidate bumps the counters gens of an install after a change was
// committed, and asks every replica to drop the L1 entries entryKeys early.
// If Redis cannot be reached, the bumps are kept and applied before the
// cache is trusted again; the error says so.
func (c *Cache) Invalidate(ctx context.Context, installID string, gens []string, entryKeys []string) error {
	for _, k := range entryKeys {
		c.l1.Invalidate(k)
	}
	if len(gens) == 0 {
		return nil
	}
	if c.opts.Redis == nil {
		c.local.bump(gens)
		return nil
	}
	keys := make([]string, len(gens))
	for i, g := range gens {
		keys[i] = c.redisKey(installID, g)
	}
	err := c.bumpRedis(ctx, keys, entryKeys)
	if err != nil {
		c.pending.add(keys)
		c.markUnhealthy(err)
	}
	// Replicas that answer from their mirror of the counters may do so for
	// a trust window after they last heard from Redis; past it, they have
	// dropped the counters just bumped, or (Redis gone) stopped trusting
	// the mirror (see mirror).
	time.Sleep(c.opts.TrustWindow)
	if err != nil {
		return fmt.Errorf("cache: invalidate: %w", err)
	}
	return nil
}

// Writable reports whether a change may be made now: without Redis always;
// with Redis only if it answers now, so that the change's invalidation can
// reach every replica. (Reads may not have asked Redis for a while: they
// answer from the mirror.)
func (c *Cache) Writable(ctx context.Context) bool {
	if c.opts.Redis == nil {
		return true
	}
	if !c.healthy.Load() {
		return false
	}
	if err := c.opts.Redis.Ping(ctx).Err(); err != nil {
		c.redisFailed(ctx, err)
		return false
	}
	return true
}

// Trusted reports whether warm requests are answered without asking Redis
// right now: this replica's mirror of the counters is known to be current.
func (c *Cache) Trusted() bool {
	return c.mirror != nil && c.mirror.trusted()
}

// localCounters are the counters of a cache without Redis.
type localCounters struct {
	mu sync.Mutex
	m  map[string]int64
}

func (l *localCounters) read(keys []string) map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(keys))
	for _, k := range keys {
		out[k] = l.m[k]
	}
	out[epochKey] = 1 // one process: the epoch never changes
	return out
}

func (l *localCounters) bump(keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.m[k]++
	}
}
