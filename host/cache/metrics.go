package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count hits and misses per layer and Redis errors.
type metrics struct {
	hits, misses *prometheus.CounterVec
	redisErrors  prometheus.Counter
	snapshots    *prometheus.CounterVec
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

func (m metrics) hit(layer string)  { m.hits.WithLabelValues(layer).Inc() }
func (m metrics) miss(layer string) { m.misses.WithLabelValues(layer).Inc() }

func (m metrics) snapshot(source string) { m.snapshots.WithLabelValues(source).Inc() }
