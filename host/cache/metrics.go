package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count hits and misses per layer, snapshots per source and Redis
// errors. The labelled counters are resolved once: they are counted on
// every request.
type metrics struct {
	hits, misses *prometheus.CounterVec
	redisErrors  prometheus.Counter
	snapshots    *prometheus.CounterVec

	hitBy, missBy, snapshotBy map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_cache_hits_total", Help: "Cache hits by layer (l1, redis).",
		}, []string{"layer"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_cache_misses_total", Help: "Cache misses by layer (l1, redis).",
		}, []string{"layer"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmguard_cache_redis_errors_total", Help: "Redis operations of the cache that failed.",
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_cache_snapshots_total",
			Help: "Counter reads of requests by where they came from (mirror: no Redis round trip; redis; local: no Redis configured; failed).",
		}, []string{"source"}),
	}
	m.hitBy, m.missBy, m.snapshotBy = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, layer := range []string{"l1", "redis"} {
		m.hitBy[layer], m.missBy[layer] = m.hits.WithLabelValues(layer), m.misses.WithLabelValues(layer)
	}
	for _, source := range []string{"mirror", "redis", "local", "failed"} {
		m.snapshotBy[source] = m.snapshots.WithLabelValues(source)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.hits, m.misses, m.redisErrors, m.snapshots} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("cache: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m metrics) hit(layer string)       { m.hitBy[layer].Inc() }
func (m metrics) miss(layer string)      { m.missBy[layer].Inc() }
func (m metrics) snapshot(source string) { m.snapshotBy[source].Inc() }
