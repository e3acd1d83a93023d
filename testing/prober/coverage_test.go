package prober

import (
	"slices"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestProbesCoverRoutes keeps the probes honest: every route of the API
// (harness.APIRoutes) and of each shipped plugin (harness.PluginRoutes)
// has a probe, or is listed in noValue with the reason it takes nothing of
// an install; and no probe or reason names a route that is gone.
func TestProbesCoverRoutes(t *testing.T) {
	probed := map[string]bool{}
	for _, pr := range probes() {
		probed[pr.api] = true
		if pr.plugin != "" {
			probed[pr.plugin+" "+pr.pattern] = true
		}
	}
	routes := harness.APIRoutes(t)
	for plugin, patterns := range harness.PluginRoutes(t) {
		for _, p := range patterns {
			routes = append(routes, plugin+" "+p)
		}
	}
	for _, r := range routes {
		if !probed[r] && noValue[r] == "" {
			t.Errorf("%s has no probe: add one to probes, or say in noValue why it takes nothing of an install", r)
		}
		if probed[r] && noValue[r] != "" {
			t.Errorf("%s is probed and said in noValue to take nothing of an install", r)
		}
	}
	for r := range probed {
		if !slices.Contains(routes, r) {
			t.Errorf("a probe names %s, which is no route", r)
		}
	}
	for r := range noValue {
		if !slices.Contains(routes, r) {
			t.Errorf("noValue names %s, which is no route", r)
		}
	}
}
