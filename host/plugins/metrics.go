package plugins

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count and time the calls to plugins, by plugin, hook and result,
// and the calls refused for being over an install's limit.
type metrics struct {
	calls   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	busy    *prometheus.CounterVec
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
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_plugin_busy_total",
			Help: "Calls to a plugin's routes refused (429 plugin_busy) because the install had as many running in it as it may.",
		}, []string{"plugin"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.seconds, m.busy} {
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

// stateCollector reports each plugin's state when scraped.
type stateCollector struct{ plugins []*Plugin }

var (
	upDesc = prometheus.NewDesc("crmguard_plugin_up",
		"1 while a process of the plugin is in service, 0 while it is down (restarting or failed).", []string{"plugin"}, nil)
	stateDesc = prometheus.NewDesc("crmguard_plugin_state",
		"1 for the plugin's state (running, restarting, failed: down until an operator restarts it), 0 for the others.", []string{"plugin", "state"}, nil)
	restartsDesc = prometheus.NewDesc("crmguard_plugin_restarts_total",
		"Processes of the plugin started after its first, by the host or an operator.", []string{"plugin"}, nil)
)

// Describe sends the descriptions of the state metrics.
func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- stateDesc
	ch <- restartsDesc
}

// Collect sends each plugin's state metrics.
func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.plugins {
		st, id := p.Status(), p.Manifest.ID
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, oneIf(st.State == StateRunning), id)
		for _, s := range []string{StateRunning, StateRestarting, StateFailed} {
			ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, oneIf(st.State == s), id, s)
		}
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(st.Restarts), id)
	}
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
