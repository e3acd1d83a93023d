package chaos_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// malformedSegments are the path segments of defect 1: each once made the
// SDK panic, or a plugin's router answer outside the host's error form or
// outside its prefix.
// Those that do not crash come first, so that their answers are seen
// before any crash.
var malformedSegments = []string{"..", "a%3fb", "a%20b", "a%00b", "a%09b", "a%0db", "a%25b"}

// malformedRoutes are routes of every shipped plugin with routes, {seg}
// where a malformed segment goes.
var malformedRoutes = []struct{ plugin, method, path string }{
	{"strict-ownership", "GET", "records/lead/{seg}/shares"},
	{"strict-ownership", "DELETE", "records/lead/{seg}/shares/{seg}"},
	{"teams", "POST", "records/{seg}/move"},
	{"teams", "GET", "counts/{seg}"},
	{"delegation", "GET", "records/account/{seg}/delegations"},
	{"delegation", "PATCH", "delegations/{seg}"},
	{"hello", "GET", "{seg}"},
	{"hello", "POST", "visits/{seg}"},
}

// TestMalformedPluginPaths sends each malformed segment in each plugin
// route, as a member of one install: every answer is the host's (a 4xx in
// its error form, never a crash's 503 nor a redirect), the plugin's
// process keeps its pid, and it goes on serving both installs at once.
func TestMalformedPluginPaths(t *testing.T) {
	w := newWorld(t, storetest.MySQLDSN(t))
	for _, id := range harness.Plugins {
		t.Run(id, func(t *testing.T) {
			pid := w.Server.PluginPids()[id]
			if pid == 0 {
				t.Fatalf("no process of %s under the host", id)
			}
			tl := newTally()
			var answers []string
			for _, route := range malformedRoutes {
				if route.plugin != id {
					continue
				}
				for _, seg := range malformedSegments {
					path := fmt.Sprintf("/v1/plugins/%s/api/%s", id, strings.ReplaceAll(route.path, "{seg}", seg))
					var body any
					if route.method == "POST" || route.method == "PATCH" {
						body = map[string]any{}
					}
					r, ok := tl.send(w.A.Bob, route.method, path, body)
					if !ok {
						continue
					}
					answers = append(answers, fmt.Sprintf("%-6s %s: %d %s%s", route.method, path, r.Status, r.ErrorCode(), location(r)))
					if r.Status/100 != 4 || r.ErrorCode() == "" {
						tl.wrongf("%s %s: %d %s%s", route.method, path, r.Status, short(r.Body), location(r))
					}
				}
			}
			now := w.Server.PluginPids()[id]
			t.Logf("%s: malformed paths answered: %s; process %d before, %d after:\n  %s", id, tl, pid, now, strings.Join(answers, "\n  "))
			tl.check(t, "defect 1: answers to malformed paths")
			if now != pid {
				t.Errorf("defect 1: %s's process %d did not survive malformed paths (now %d)", id, pid, now)
			}
			for _, in := range w.installs() {
				if r := in.Admin.Do("GET", pluginRoute(t, id, in), nil); r.Status != 200 {
					t.Errorf("defect 1: %s does not serve %s right after malformed paths: %d %s", id, in.Slug, r.Status, short(r.Body))
				}
			}
		})
	}
}

// location is an answer's Location header, for a message: "" when none.
func location(r harness.Reply) string {
	if l := r.Header.Get("Location"); l != "" {
		return fmt.Sprintf(" (Location: %s)", l)
	}
	return ""
}
