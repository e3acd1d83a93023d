package chaos_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// load runs workers, each repeating its step, until stopped.
type load struct {
	stopped atomic.Bool
	wg      sync.WaitGroup
}

// pace is a worker's pause between two steps: a few hundred requests a
// second in all, enough to meet every fault, while the two cores of a test
// machine are left to the host and to the plugins and servers it gets
// back.
const pace = 10 * time.Millisecond

// startLoad starts one goroutine per step.
func startLoad(steps ...func()) *load {
	l := &load{}
	for _, step := range steps {
		l.wg.Go(func() {
			for !l.stopped.Load() {
				step()
				time.Sleep(pace)
			}
		})
	}
	return l
}

// stop ends the load and waits for the requests in flight.
func (l *load) stop() {
	l.stopped.Store(true)
	l.wg.Wait()
}

// tally counts the answers of a load by status (with the error code of
// error answers), keeps those that broke a promise, and times the
// acknowledged writes.
type tally struct {
	// allowed503 are the codes of the 503s the fault under test may
	// cause, as documented; any other 503 is wrong.
	allowed503 []string

	mu     sync.Mutex
	counts map[string]int
	wrong  []string // the first few, for the failure message
	nWrong int
	writes []span // acknowledged writes
}

// span is when a request was sent and when its answer came.
type span struct{ sent, answered time.Time }

// newTally returns a tally of a load where 503s with the given codes are
// expected.
func newTally(allowed503 ...string) *tally {
	return &tally{allowed503: allowed503, counts: map[string]int{}}
}

// send makes one request of a load (body as JSON, nil for none) and counts
// its answer; no answer at all is wrong in itself, and reported false.
func (tl *tally) send(c harness.Client, method, path string, body any, headers ...string) (harness.Reply, bool) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			tl.wrongf("%s %s: %v", method, path, err)
			return harness.Reply{}, false
		}
	}
	r, err := c.Raw(method, path, raw, headers...)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if err != nil {
		tl.counts["no answer"]++
		tl.wrongLocked(fmt.Sprintf("%s %s: no answer: %v", method, path, err))
		return r, false
	}
	key := fmt.Sprint(r.Status)
	if code := r.ErrorCode(); r.Status >= 400 && code != "" {
		key += " " + code
	}
	tl.counts[key]++
	return r, true
}

// write is send for a write: an answer of 2xx is timed as acknowledged.
func (tl *tally) write(c harness.Client, method, path string, body any, headers ...string) (harness.Reply, bool) {
	sent := time.Now()
	r, ok := tl.send(c, method, path, body, headers...)
	if ok && r.Status/100 == 2 {
		tl.mu.Lock()
		tl.writes = append(tl.writes, span{sent, time.Now()})
		tl.mu.Unlock()
	}
	return r, ok
}

// otherwise judges an answer that is none of those a request expects: a
// 503 of the allowed codes passes, anything else is wrong.
func (tl *tally) otherwise(what string, r harness.Reply) {
	if r.Status == 503 && slices.Contains(tl.allowed503, r.ErrorCode()) {
		return
	}
	tl.wrongf("%s: %d %s", what, r.Status, short(r.Body))
}

// wrongf notes an answer that broke a promise.
func (tl *tally) wrongf(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.wrongLocked(fmt.Sprintf(format, args...))
}

func (tl *tally) wrongLocked(why string) {
	tl.nWrong++
	if len(tl.wrong) < 5 {
		tl.wrong = append(tl.wrong, why)
	}
}

// count returns how many answers had a status key ("200", "503
// plugin_unavailable").
func (tl *tally) count(key string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.counts[key]
}

// unavailable counts the 503s.
func (tl *tally) unavailable() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for k, v := range tl.counts {
		if strings.HasPrefix(k, "503") {
			n += v
		}
	}
	return n
}

// firstWriteAfter is how long after t the first write sent at or after t
// was acknowledged; false if none was yet.
func (tl *tally) firstWriteAfter(t time.Time) (time.Duration, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var best time.Duration
	found := false
	for _, w := range tl.writes {
		if !w.sent.Before(t) && (!found || w.answered.Sub(t) < best) {
			best, found = w.answered.Sub(t), true
		}
	}
	return best, found
}

// waitFirstWriteAfter waits, up to limit, for a write sent at or after t
// to be acknowledged, and returns how long after t it was; it fails the
// test when none is.
func (tl *tally) waitFirstWriteAfter(tb testing.TB, t time.Time, limit time.Duration) time.Duration {
	tb.Helper()
	var d time.Duration
	harness.WaitFor(tb, "an acknowledged write", limit, func() bool {
		var ok bool
		d, ok = tl.firstWriteAfter(t)
		return ok
	})
	return d
}

// String is the answers by status, in a form a reader can paste:
// "200: 812, 201: 160, 503 unavailable: 97 (1069 requests)".
func (tl *tally) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var parts []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(tl.counts)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, tl.counts[k]))
		total += tl.counts[k]
	}
	return fmt.Sprintf("%s (%d requests)", strings.Join(parts, ", "), total)
}

// check fails the test if any answer broke a promise, naming the first
// few.
func (tl *tally) check(tb testing.TB, promise string) {
	tb.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.nWrong > 0 {
		tb.Errorf("%s: %d wrong answers, e.g.:\n  %s", promise, tl.nWrong, strings.Join(tl.wrong, "\n  "))
	}
}

// short is a body on one line, cut, for a message.
func short(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// seconds formats a duration for a report: "1.23 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
