package fuzz

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var seedFlag = flag.Uint64("seed", 0, "the seed of the run's second part, to replay a run (also CRMGUARD_FUZZ_SEED); 0 picks one")

// fixedSeed is the seed of every run's first part.
const fixedSeed = 16

// defaultRequests are the requests of each part of a run: enough to reach
// every route many times in each of its shapes, few enough for about a
// minute on two cores under the race detector.
const defaultRequests = 1500

// fuzzer sends requests to one World and checks their answers.
type fuzzer struct {
	t        *testing.T
	w        *harness.World
	r        *rand.Rand
	operator string
	a, b     *installState
	plugins  []pluginInfo
	routes   []*route
	watch    *watcher

	authTokens float64 // the fuzzer's own bad-token budget
	authAt     time.Time

	visible map[string]bool // records each caller may see, until the next write

	sent, bookkept, restarts int
	waited, reviving         time.Duration          // spent keeping to the bad-token budget, waiting for plugins to come back
	byRoute                  map[string]map[int]int // requests by route and status
	byCode                   map[string]int         // 5xx answers by status and code
	failures                 map[string]*failure
	failOrder                []string
}

// TestFuzz runs the fuzzer over a World: a part with a fixed seed, then
// one with a random seed (or the one given), then the checks that need the
// whole run: every event delivered, no process lost.
func TestFuzz(t *testing.T) {
	start := time.Now()
	seed := uint64(rand.Int64())
	if s := os.Getenv("CRMGUARD_FUZZ_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CRMGUARD_FUZZ_SEED: %v", err)
		}
	}
	if *seedFlag != 0 {
		seed = *seedFlag
	}
	n := defaultRequests
	if s := os.Getenv("CRMGUARD_FUZZ_REQUESTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CRMGUARD_FUZZ_REQUESTS: %v", err)
		}
	}
	t.Logf("seeds: %d, then %d (replay: CRMGUARD_FUZZ_SEED=%d); %d requests each", fixedSeed, seed, seed, n)

	operator := strings.Repeat("fuzz-operator-", 3)
	w := harness.NewWorld(t, harness.WorldOptions{
		Env: []string{"CRMGUARD_OPERATOR_TOKEN=" + operator}, LogLines: 200,
	})
	f := newFuzzer(t, w, operator)
	setUp := time.Since(start)
	f.witnessBaseline()

	f.r = newRand(fixedSeed)
	f.prelude()
	for _, s := range []uint64{fixedSeed, seed} {
		f.r = newRand(s)
		for range n {
			f.step()
		}
	}
	fuzzed := time.Since(start) - setUp

	f.after(nil, reply{})
	f.checkWitness()
	for id, pid := range f.watch.plugins() {
		if was, ok := f.watch.pids[id]; !ok || was != pid {
			f.failIn("a plugin process replaced", "plugin "+id, nil, "its process was %d, is %d", was, pid)
		}
	}
	f.report(setUp, fuzzed, time.Since(start))
	if path := os.Getenv("CRMGUARD_FUZZ_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(w.Server.Log()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func newFuzzer(t *testing.T, w *harness.World, operator string) *fuzzer {
	f := &fuzzer{
		t: t, w: w, operator: operator, a: newInstallState(w.A), b: newInstallState(w.B),
		watch:      newWatcher(w.Server),
		authTokens: 15, authAt: time.Now(),
		visible: map[string]bool{}, byRoute: map[string]map[int]int{}, byCode: map[string]int{}, failures: map[string]*failure{},
	}
	f.a.other, f.b.other = f.b, f.a
	for _, rt := range append(hostRoutes(), pluginRoutes()...) {
		for range max(rt.weight, 1) {
			f.routes = append(f.routes, rt)
		}
	}
	if len(f.watch.pids) != len(harness.Plugins) {
		t.Fatalf("the host runs plugins %v, want %v", f.watch.pids, harness.Plugins)
	}
	// Each plugin's schema, and the settings each has in the World.
	var list struct {
		Plugins []struct {
			ID             string          `json:"id"`
			SettingsSchema json.RawMessage `json:"settings_schema"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(w.A.Admin.Must(200, "GET", "/v1/plugins", nil).Body, &list); err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Plugins {
		info := pluginInfo{id: p.ID, valid: append([]string{"{}"}, validSettings[p.ID]...)}
		if err := json.Unmarshal(p.SettingsSchema, &info.schema); err != nil {
			t.Fatalf("plugin %s: settings schema: %v", p.ID, err)
		}
		info.valid = append(info.valid, string(w.A.Admin.Must(200, "GET", "/v1/plugins/"+p.ID+"/settings", nil).Body))
		f.plugins = append(f.plugins, info)
	}
	return f
}

// step sends one request: a random route, install and caller, valid or
// broken, and checks its answer.
func (f *fuzzer) step() {
	rt := f.routes[f.r.IntN(len(f.routes))]
	in := f.a
	if f.r.IntN(2) == 0 {
		in = f.b
	}
	q := &request{route: rt, in: in, who: f.pickCaller(rt)}
	rt.build(f, q)
	if f.r.IntN(100) < 60 {
		f.mutate(q)
	}
	f.exchange(q)
}

// exchange sends a request and checks its answer, and what the host and
// its plugins did meanwhile.
func (f *fuzzer) exchange(q *request) {
	rt := q.route
	if authFails(rt.auth, q.who) {
		f.spendAuthFailure()
	}
	if strings.HasSuffix(q.path(), "/deactivate") && strings.Contains(strings.ToLower(decodedSegment(q.path())), "hello") {
		// hello counts the writes the witness compares: it stays on.
		q.segs[len(q.segs)-1].text = "activate"
	}
	pre := f.versionBefore(q)
	f.sent++
	rep, err := send(f.w.Server.Base, f.tokenFor(q), q)
	if err != nil {
		f.fail("no answer", q, "%v", err)
		f.after(q, reply{})
		return
	}
	if f.byRoute[rt.name] == nil {
		f.byRoute[rt.name] = map[int]int{}
	}
	f.byRoute[rt.name][rep.status]++
	if rep.status >= 500 {
		code, _, _ := errorForm(rep)
		f.byCode[fmt.Sprintf("%d %s", rep.status, code)]++
	}
	f.check(q, rep)
	if rep.status < 300 {
		f.learn(q, rep, pre)
	}
	f.after(q, rep)
}

// learn takes in what a successful answer tells: new things to build
// requests from, cursors to tamper with, and the record writes it made.
func (f *fuzzer) learn(q *request, rep reply, pre int64) {
	if c := rep.str("next_cursor"); c != "" {
		q.in.addCursor(c)
	}
	if q.route.learn != nil {
		q.route.learn(f, q, rep)
	}
	if q.method != "GET" && q.method != "HEAD" {
		clear(f.visible)
	}
	f.countWrite(q, rep, pre)
}

// report logs the run's figures and its failures, each kind once with
// its first example.
func (f *fuzzer) report(setUp, fuzzed, total time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "requests sent: %d fuzzed, %d to know what happened (%d plugin restarts by the operator)\n", f.sent, f.bookkept, f.restarts)
	fmt.Fprintf(&b, "time: %s to set up, %s fuzzing (%.0f requests/s; %s of it keeping to the bad-token budget, %s waiting for plugins to come back), %s in all\n",
		setUp.Round(time.Millisecond), fuzzed.Round(time.Millisecond), float64(f.sent)/fuzzed.Seconds(),
		f.waited.Round(time.Millisecond), f.reviving.Round(time.Millisecond), total.Round(time.Millisecond))
	b.WriteString(statusTable(f.byRoute))
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(f.byCode)) {
		codes = append(codes, fmt.Sprintf("%d×%s", f.byCode[c], c))
	}
	fmt.Fprintf(&b, "  5xx by code: %s\n", strings.Join(codes, " "))
	f.t.Log("figures:\n" + b.String())
	for _, key := range f.failOrder {
		fl := f.failures[key]
		f.t.Errorf("%s, %s (%d times); first: %s", fl.kind, fl.where, fl.count, fl.example)
	}
}
