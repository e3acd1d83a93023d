package plugins

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count and time the calls to plugins, by plugin, hook and result.
type metrics struct {
	calls   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_plugin_calls_total", Help: "Hook calls to plugins, by plugin, hook and result (ok, error).",
		}, []string{"plugin", "hook", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmguard_plugin_call_seconds", Help: "Time of hook calls to plugins, by plugin and hook.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1},
		}, []string{"plugin", "hook"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.seconds} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("plugins: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records a call that started at start and ended with *err.
func (m metrics) observe(plugin, hook string, start time.Time, err *error) {
	result := "ok"
	if *err != nil {
		result = "error"
	}
	m.calls.WithLabelValues(plugin, hook, result).Inc()
	m.seconds.WithLabelValues(plugin, hook).Observe(time.Since(start).Seconds())
}
