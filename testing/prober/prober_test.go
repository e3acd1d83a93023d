package prober

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// perRequest are the headers that differ from one request to the next
// whatever is asked: they are left out of the comparison, and only they.
var perRequest = []string{"X-Request-Id", "Date"}

// value is one value of install B that a probe sends.
type value struct {
	kind, v string
	typ     string // a record's type
	from    string // where it comes from, for reports
	// hiddenFrom is, for a record of A that one of A's members may not
	// see, that member: it is probed as them alone.
	hiddenFrom string
}

// prober sends install A the probes with B's values and stand-ins.
type prober struct {
	t        *testing.T
	w        *harness.World
	r        *rand.Rand
	a        *harness.Install
	aIDs     []string           // every id of A, sorted: stand-ins keep their place among them
	settings map[string]string  // A's plugin settings, as the run found them
	callers  []harness.Client   // A's admin, manager, members and service token
	names    []string           // of the callers
	values   map[string][]value // B's values by kind

	requests, pairs int
	byRoute         map[string]int
	diffs           []string
}

// TestCrossInstall sends every probe, with each of B's values of its kind,
// as each of A's callers, and compares each answer with the answer to the
// same request with a stand-in for B's value.
func TestCrossInstall(t *testing.T) {
	start := time.Now()
	w := harness.NewWorld(t, harness.WorldOptions{LogLines: 100})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed of the stand-ins: %d", seed)
	p := &prober{t: t, w: w, r: rand.New(rand.NewPCG(seed, seed)), a: w.A, byRoute: map[string]int{}}
	p.callers = []harness.Client{w.A.Admin, w.A.Manager, w.A.Alice, w.A.Bob, w.A.Service}
	p.names = []string{"admin", "manager", "alice", "bob", "service"}
	p.gatherB()
	p.gatherA()
	setUp := time.Since(start)

	for _, pr := range probes() {
		values := p.values[pr.kind]
		if len(values) == 0 {
			t.Fatalf("no value of kind %s to probe %s %s with", pr.kind, pr.method, pr.path)
		}
		if pr.once {
			values = values[:1]
		}
		for _, v := range values {
			for i, c := range p.callers {
				p.pair(pr, v, c, p.names[i])
			}
		}
		// The same probes of a record with A's records its members may
		// not see: a hidden record is a missing one, on every route.
		if pr.kind == "record" && !pr.once {
			for _, v := range p.values["hidden"] {
				i := slices.Index(p.names, v.hiddenFrom)
				p.pair(pr, v, p.callers[i], v.hiddenFrom)
			}
		}
	}

	t.Logf("figures: %d requests, %d pairs compared, %d differences; %s to set up, %s in all",
		p.requests, p.pairs, len(p.diffs), setUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	var lines []string
	for _, route := range slices.Sorted(maps.Keys(p.byRoute)) {
		lines = append(lines, fmt.Sprintf("  %-60s %4d pairs", route, p.byRoute[route]))
	}
	t.Log("pairs by route:\n" + strings.Join(lines, "\n"))
	for i, d := range p.diffs {
		if i == 30 {
			t.Errorf("… and %d more differences", len(p.diffs)-i)
			break
		}
		t.Error(d)
	}
}

// pair sends a probe with B's value and with a stand-in, in a random
// order, and records a difference between the answers.
func (p *prober) pair(pr probe, v value, c harness.Client, name string) {
	stand := p.standIn(v)
	var b, s harness.Reply
	if p.r.IntN(2) == 0 { // the stand-in first, as often as second
		s = p.send(pr, stand, v, c)
		b = p.send(pr, v.v, v, c)
	} else {
		b = p.send(pr, v.v, v, c)
		s = p.send(pr, stand, v, c)
	}
	p.pairs++
	route := pr.api
	if pr.plugin != "" {
		route = pr.plugin + " " + pr.pattern
	}
	p.byRoute[route]++
	if d := differ(b, s, v.v, stand); d != "" {
		whose := "B's " + v.kind
		if v.hiddenFrom != "" {
			whose = "a record of A hidden from them"
		}
		p.diffs = append(p.diffs, fmt.Sprintf("%s %s as %s with %s (%s) and with %s: %s",
			pr.method, fill(pr.path, "{v}", v, c, p.a), name, whose, v.from, stand, d))
	}
	if pr.restore != "" {
		p.w.A.Admin.Must(200, "PUT", "/v1/plugins/"+pr.restore+"/settings", json.RawMessage(p.settings[pr.restore]))
	}
}

// send sends a probe with x in place of {v}.
func (p *prober) send(pr probe, x string, v value, c harness.Client) harness.Reply {
	p.requests++
	var body []byte
	if pr.body != "" {
		body = []byte(fill(pr.body, x, v, c, p.a))
	}
	c.HTTP = noRedirects
	r, err := c.Raw(pr.method, fill(pr.path, x, v, c, p.a), body)
	if err != nil {
		p.t.Fatalf("%s %s: %v", pr.method, pr.path, err)
	}
	return r
}

var noRedirects = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// fill writes a probe's path or body for a caller, with x as the value.
func fill(s, x string, v value, c harness.Client, a *harness.Install) string {
	me := c.ID
	if me == "" {
		me = a.Alice.ID
	}
	return strings.NewReplacer(
		"{v}", x, "{T}", v.typ, "{me}", me,
		"{a.lead}", a.Records["alice"]["lead"], "{a.account}", a.Records["alice"]["account"],
		"{a.activity}", a.Records["alice"]["activity"], "{a.alice}", a.Alice.ID, "{a.bob}", a.Bob.ID,
		"{a.manager}", a.Manager.ID, "{a.team}", a.TeamID, "{a.share}", a.ShareID,
	).Replace(s)
}

// differ compares two answers, the first to B's value, the second to the
// stand-in, each value written as a placeholder in both; "" when they are
// the same.
func differ(b, s harness.Reply, bv, sv string) string {
	norm := func(x, v string) string {
		x = strings.ReplaceAll(x, v, "<probe>")
		if id := cursorID(v); id != "" {
			x = strings.ReplaceAll(x, id, "<probe>")
		}
		return x
	}
	if b.Status != s.Status {
		return fmt.Sprintf("status %d and %d; bodies %s and %s", b.Status, s.Status, clip(string(b.Body)), clip(string(s.Body)))
	}
	if bb, sb := norm(string(b.Body), bv), norm(string(s.Body), sv); bb != sb {
		return fmt.Sprintf("%d with bodies %s and %s", b.Status, clip(bb), clip(sb))
	}
	names := map[string]bool{}
	for k := range b.Header {
		names[k] = true
	}
	for k := range s.Header {
		names[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(names)) {
		if slices.Contains(perRequest, k) {
			continue
		}
		bh, sh := norm(strings.Join(b.Header[k], ", "), bv), norm(strings.Join(s.Header[k], ", "), sv)
		if bh != sh {
			return fmt.Sprintf("%d with header %s: %q and %q", b.Status, k, bh, sh)
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// cursorID is the id a cursor carries, "" when v is not one.
func cursorID(v string) string {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(string(raw), "v1:")
	if !ok {
		return ""
	}
	return id
}

// standIn is a value of the same shape as v that names nothing: a random
// id with v's time part, placed among A's ids exactly where v is (so that
// a list that starts after either gives the same page), a cursor around
// such an id, or a random name of v's length.
func (p *prober) standIn(v value) string {
	switch {
	case v.kind == "role":
		b := make([]byte, len(v.v))
		for i := range b {
			b[i] = byte('a' + p.r.IntN(26))
		}
		return string(b)
	case v.kind == "cursor":
		return base64.RawURLEncoding.EncodeToString([]byte("v1:" + p.standInID(cursorID(v.v))))
	}
	return p.standInID(v.v)
}

func (p *prober) standInID(id string) string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for {
		b := []byte(id[:10])
		for len(b) < 26 {
			b = append(b, crockford[p.r.IntN(len(crockford))])
		}
		s := string(b)
		lo, hi := min(s, id), max(s, id)
		// The first id of A above lo must not be below hi.
		i := sort.SearchStrings(p.aIDs, lo)
		for i < len(p.aIDs) && p.aIDs[i] == lo {
			i++
		}
		if s != id && (i == len(p.aIDs) || p.aIDs[i] >= hi) {
			return s
		}
	}
}
