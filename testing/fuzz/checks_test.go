package fuzz

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// documented503 are the codes a 503 may carry, as README.md and docs/
// document them: a plugin or the cache unavailable, a plugin that failed
// to start (README "The API in short", "Pointing it at MySQL and Redis",
// "Plugins"; docs/plugins.md). Every other 5xx fails the run.
var documented503 = []string{"plugin_unavailable", "plugin_failed", "cache_unavailable"}

// documented503Of are the 503 codes a plugin's own routes document
// (docs/delegation.md, "Errors").
var documented503Of = map[string][]string{"delegation": {"invalid_settings", "host_unavailable"}}

var (
	codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// goSpeak is what an error message must not say: Go's types and
	// errors, SQL's, a stack.
	goSpeak = regexp.MustCompile(`Go struct|Go value|cannot unmarshal|json: |strconv\.|runtime error|goroutine |sql: |SQLSTATE|Error 1[0-9]{3}|of type [a-z\[\]*.]*[a-z0-9]|interface \{\}|%!`)
)

// failure is one kind of failure the run found, where (a route, a
// plugin, the host), with its first example.
type failure struct {
	kind, where string
	count       int
	example     string
}

// fail records a failure of kind on the request's route.
func (f *fuzzer) fail(kind string, q *request, format string, args ...any) {
	where := "-"
	if q != nil {
		where = q.route.name
	}
	f.failIn(kind, where, q, format, args...)
}

// failIn records a failure of kind, grouped under where.
func (f *fuzzer) failIn(kind, where string, q *request, format string, args ...any) {
	key := kind + "\x00" + where
	if fl, ok := f.failures[key]; ok {
		fl.count++
		return
	}
	ex := fmt.Sprintf(format, args...)
	if q != nil {
		ex = fmt.Sprintf("request #%d %s: %s", f.sent, q.describe(), ex)
	}
	f.failures[key] = &failure{kind: kind, where: where, count: 1, example: ex}
	f.failOrder = append(f.failOrder, key)
}

// pluginOf is the plugin whose own routes a request reaches, "" for the
// host's: Gin routes /v1/plugins/{id}/api/*path on the path with its
// escapes decoded, a segment after "api" included, empty or not.
func pluginOf(q *request) string {
	p := strings.SplitN(decodedSegment(q.path()), "/", 6)
	if len(p) == 6 && p[1] == "v1" && p[2] == "plugins" && p[3] != "" && p[4] == "api" {
		return p[3]
	}
	return ""
}

// answeredBy is who wrote an answer: a plugin, for its own routes, or
// the host.
func answeredBy(q *request) string {
	if id := pluginOf(q); id != "" {
		return "plugin " + id + "'s routes"
	}
	return "the host's routes"
}

// check applies the rules every answer keeps.
func (f *fuzzer) check(q *request, rep reply) {
	code, message, isError := errorForm(rep)
	switch {
	// The plugins are up unless one died (which fails the run on its
	// own): a plugin_unavailable while they all run is the host's fault,
	// an answer it could not forward, say.
	case rep.status == 503 && code == "plugin_unavailable" && f.watch.allAlive():
		f.fail("503 plugin_unavailable while every plugin ran", q, "answered %d %s", rep.status, clip(string(rep.body), 300))
	// A HEAD's answer has no body to name its code.
	case rep.status >= 500 && !(rep.status == 503 && (f.documented503(q, code) || q.method == "HEAD")):
		f.fail(fmt.Sprintf("%d %s", rep.status, code), q, "answered %d %s", rep.status, clip(string(rep.body), 300))
	case rep.status >= 400 && q.method != "HEAD" && !isError:
		f.failIn(fmt.Sprintf("%d not in the error form", rep.status), answeredBy(q), q, "answered %d %q (Content-Type %q)", rep.status, clip(string(rep.body), 200), rep.header.Get("Content-Type"))
	case isError && goSpeak.MatchString(message):
		f.fail("an error message that speaks Go: "+code, q, "answered %d %s", rep.status, clip(string(rep.body), 300))
	case rep.status == 429 && code == "too_many_failures" && !authFails(q.route.auth, q.who):
		f.fail("a valid token refused by the bad-token limiter", q, "answered %d %s", rep.status, rep.body)
	case q.mustRefuse && rep.status < 300:
		f.fail("invalid settings accepted", q, "answered %d %s", rep.status, clip(string(rep.body), 200))
	}
	if loc := rep.header.Get("Location"); loc != "" && rep.status >= 300 && rep.status < 400 {
		// Read as the server reads paths, escapes decoded.
		prefix, target := "/", decodedSegment(strings.SplitN(loc, "?", 2)[0])
		if id := pluginOf(q); id != "" {
			prefix = "/v1/plugins/" + id + "/api/"
		}
		if !strings.HasPrefix(target, prefix) || strings.HasPrefix(target, "//") {
			f.failIn("a redirect out of its prefix", answeredBy(q), q, "answered %d Location: %s", rep.status, loc)
		}
	}
	if rep.status < 300 && q.who <= asBob && q.who != asAdmin {
		f.checkParents(q, rep.json)
	}
}

// documented503 reports whether a 503's code is documented for the route.
func (f *fuzzer) documented503(q *request, code string) bool {
	return slices.Contains(documented503, code) || slices.Contains(documented503Of[q.route.plugin], code)
}

// errorForm reads an answer as the API's error form,
// {"error":{"code":"snake_case","message":"…"}} and nothing else.
func errorForm(rep reply) (code, message string, ok bool) {
	if !strings.HasPrefix(rep.header.Get("Content-Type"), "application/json") {
		return "", "", false
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(rep.body, &body) != nil || len(body) != 1 || body["error"] == nil {
		return "", "", false
	}
	var e map[string]any
	if json.Unmarshal(body["error"], &e) != nil || len(e) != 2 {
		return "", "", false
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message, codePattern.MatchString(code) && strings.TrimSpace(message) != ""
}

// checkParents checks that every record of an answer to a user names as
// its parent only a record that user may see (a hidden one is null).
func (f *fuzzer) checkParents(q *request, v any) {
	var refs [][2]string
	var find func(any)
	find = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			p, isRef := v["parent"].(map[string]any)
			if isRef && v["id"] != nil && v["created_by"] != nil && v["version"] != nil {
				t, _ := p["type"].(string)
				id, _ := p["id"].(string)
				refs = append(refs, [2]string{t, id})
			}
			for _, x := range v {
				find(x)
			}
		case []any:
			for _, x := range v {
				find(x)
			}
		}
	}
	find(v)
	for _, ref := range refs {
		key := fmt.Sprint(q.in.slug, q.who, ref)
		seen, known := f.visible[key]
		if !known {
			rep := f.bookkeep(q.in.client(q.who), "GET", "/v1/records/"+ref[0]+"/"+ref[1])
			if rep.status != 200 && rep.status != 404 {
				continue // cannot tell now (a plugin restarting)
			}
			seen = rep.status == 200
			f.visible[key] = seen
		}
		if !seen {
			f.fail("a hidden parent's id shown", q, "the answer names %s %s as a parent, which %s may not see", ref[0], ref[1], callerNames[q.who])
		}
	}
}

// bookkeep sends a request the fuzzer needs to know what happened: not
// fuzzed, counted apart.
func (f *fuzzer) bookkeep(c harness.Client, method, path string, headers ...string) reply {
	f.bookkept++
	c.HTTP = client
	r, err := c.Raw(method, path, nil, headers...)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	rep := reply{status: r.Status, header: r.Header, body: r.Body}
	json.Unmarshal(r.Body, &rep.json)
	return rep
}

// watcher watches the host's and its plugins' processes and log.
type watcher struct {
	srv       *harness.Server
	pids      map[string]int // plugin id: pid
	logOffset int
}

func newWatcher(srv *harness.Server) *watcher {
	w := &watcher{srv: srv}
	w.pids = w.plugins()
	return w
}

// plugins are the host's plugin processes, by plugin id (the name of the
// binary, as the harness builds them).
func (w *watcher) plugins() map[string]int {
	out := map[string]int{}
	for _, pid := range w.srv.Children() {
		if cmd := harness.Cmdline(pid); cmd != "" {
			out[filepath.Base(strings.Fields(cmd)[0])] = pid
		}
	}
	return out
}

// allAlive reports whether every plugin process the watcher knows runs.
func (w *watcher) allAlive() bool {
	for _, pid := range w.pids {
		if !harness.Alive(pid) {
			return false
		}
	}
	return true
}

// after checks, once a request has its answer, that every process lives
// and the log holds no panic and no dropped event; a plugin that died is
// waited for (and restarted by the operator if the host gave up on it),
// so that the run goes on.
func (f *fuzzer) after(q *request, rep reply) {
	w := f.watch
	if q != nil && rep.status >= 500 && pluginOf(q) != "" {
		time.Sleep(200 * time.Millisecond) // a plugin that fails a request may be on its way out
	}
	if !harness.Alive(w.srv.Pid()) {
		f.t.Fatalf("the host died after request #%d %s\n%s", f.sent, q.describe(), w.srv.Log())
	}
	var died []string
	for id, pid := range w.pids {
		if !harness.Alive(pid) {
			died = append(died, id)
		}
	}
	if len(died) > 0 {
		time.Sleep(300 * time.Millisecond) // for its last words to reach the log
	}
	f.scanLog(q)
	if len(died) == 0 {
		return
	}
	slices.Sort(died)
	for _, id := range died {
		f.failIn("a plugin process died", "plugin "+id, q, "its process %d is gone", w.pids[id])
	}
	start := time.Now()
	f.revive()
	f.reviving += time.Since(start)
}

// scanLog reads what the host logged since the last request: a panic
// (the host's, or a plugin's, whose output the host logs) or a dropped
// event fails the run.
func (f *fuzzer) scanLog(q *request) {
	text, end := f.watch.srv.LogSince(f.watch.logOffset)
	f.watch.logOffset = end
	for line := range strings.SplitSeq(text, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		msg, _ := entry["msg"].(string)
		errText, _ := entry["err"].(string)
		plugin, _ := entry["plugin"].(string)
		where := "the host"
		if plugin != "" {
			where = "plugin " + plugin
		}
		// Plugins' lines reach the log a moment after they are written:
		// a line is pinned on the request that had just been answered.
		switch {
		case strings.Contains(strings.ToLower(msg+" "+errText), "panic"):
			f.failIn("a panic in the log", where, q, "logged by then: %s", clip(line, 400))
		case strings.Contains(strings.ToLower(msg), "drop"), strings.Contains(msg, "dead letters"):
			f.failIn("an event dropped or set aside", where, q, "logged by then: %s", clip(line, 400))
		}
	}
}

// revive waits until every plugin runs again: the host restarts one that
// died; one it gave up on is restarted with the operator's endpoint.
func (f *fuzzer) revive() {
	op := harness.Client{T: f.t, Base: f.w.Server.Base, Token: f.operator, HTTP: client}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rep := f.bookkeep(harness.Client{T: f.t, Base: f.w.Server.Base}, "GET", "/readyz")
		states, _ := rep.object()["plugins"].(map[string]any)
		running := 0
		for id, s := range states {
			switch s {
			case "running":
				running++
			case "failed":
				f.restarts++
				f.bookkeep(op, "POST", "/v1/admin/plugins/"+id+"/restart")
			}
		}
		if pids := f.watch.plugins(); running == len(states) && len(pids) == len(f.watch.pids) {
			f.watch.pids = pids
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the plugins are not all running again within 60 s: %s", rep.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
