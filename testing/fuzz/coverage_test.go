package fuzz

import (
	"slices"
	"testing"

	"github.com/crmguard/crmguard/testing/harness"
)

// TestRoutesCovered keeps the fuzzer's list of routes honest: every route
// of the API (the Gin engine api.New builds, and the action routes behind
// a suffix) and every route of each shipped plugin's ServeMux is one the
// fuzzer sends requests to, and the fuzzer names no route that is gone.
// The lists are read from the code itself (harness.APIRoutes,
// harness.PluginRoutes), not from the server's log or a copy, so that
// adding a route without fuzzing it fails here, without a running host.
func TestRoutesCovered(t *testing.T) {
	routes := append(hostRoutes(), pluginRoutes()...)
	covered := map[string]bool{}
	pluginCovered := map[string]bool{}
	for _, rt := range routes {
		covered[rt.api] = true
		if rt.plugin != "" {
			pluginCovered[rt.plugin+" "+rt.pattern] = true
		}
	}
	api := harness.APIRoutes(t)
	for _, r := range api {
		if !covered[r] {
			t.Errorf("the API serves %s, which the fuzzer does not reach: add it to hostRoutes or pluginRoutes", r)
		}
	}
	for r := range covered {
		if !slices.Contains(api, r) {
			t.Errorf("the fuzzer sends requests to %s, which the API does not serve", r)
		}
	}
	served := map[string]bool{}
	for plugin, patterns := range harness.PluginRoutes(t) {
		for _, p := range patterns {
			served[plugin+" "+p] = true
			if !pluginCovered[plugin+" "+p] {
				t.Errorf("plugin %s serves %s, which the fuzzer does not reach: add it to pluginRoutes", plugin, p)
			}
		}
	}
	for r := range pluginCovered {
		if !served[r] {
			t.Errorf("the fuzzer sends requests to plugin route %s, which no plugin serves", r)
		}
	}
	if !t.Failed() {
		t.Logf("%d routes of the API, %d of the plugins, all fuzzed", len(api), len(served))
	}
}
