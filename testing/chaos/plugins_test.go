package chaos_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// pluginCases are the shipped plugins, each with what it keeps from Bob,
// a member of both installs: what must stay hidden while it is killed.
var pluginCases = []struct {
	id, hides string
}{
	{"strict-ownership", "another member's records (Alice's contact)"},
	{"teams", "another team's records (a West lead shared with Bob, who is not in West)"},
	{"delegation", "a record whose delegation was revoked (Alice's opportunity)"},
	{"hello", "a type hidden from members (activities, his own included)"},
}

// TestPluginKilled kills each shipped plugin in turn with SIGKILL while
// members of both installs ask for what it hides and what they may see,
// change records, and an admin keeps voiding every cached permission (so
// that requests need the plugins' policies all along). Nothing a plugin
// hides is shown; the only refusals are 503 plugin_unavailable; and the
// host has the plugin back, serving, within 5 s.
func TestPluginKilled(t *testing.T) {
	w := newWorld(t, storetest.MySQLDSN(t))
	var probes []probe
	for _, in := range w.installs() {
		probes = append(probes, hiddenFromBob(t, in)...)
	}

	for _, pc := range pluginCases {
		t.Run(pc.id, func(t *testing.T) {
			pid := w.Server.PluginPids()[pc.id]
			if pid == 0 {
				t.Fatalf("no process of %s under the host", pc.id)
			}
			tl := newTally("plugin_unavailable")
			l := startLoad(loadSteps(w, probes, tl)...)
			time.Sleep(500 * time.Millisecond)
			killedAt := time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var back time.Duration
			ok := harness.Within(20*time.Second, func() bool {
				now := w.Server.PluginPids()[pc.id]
				r, err := w.A.Admin.Raw("GET", pluginRoute(t, pc.id, w.A), nil)
				back = time.Since(killedAt)
				return err == nil && r.Status == http.StatusOK && now != 0 && now != pid
			})
			time.Sleep(time.Second)
			l.stop()

			asked := 0
			for i := range probes {
				if n := probes[i].asked(); probes[i].plugin == pc.id {
					asked += n
				}
			}
			t.Logf("%s killed: back, serving, after %s; what it hides, %s, asked for %d times; requests by status: %s",
				pc.id, seconds(back), pc.hides, asked, tl)
			tl.check(t, "answers while "+pc.id+" was down")
			switch {
			case !ok:
				t.Errorf("%s was not back within 20 s of its kill", pc.id)
			case back > 5*time.Second:
				t.Errorf("%s was back %s after its kill, want within 5 s", pc.id, seconds(back))
			}
			if tl.count("503 plugin_unavailable") == 0 {
				t.Errorf("no request got 503 plugin_unavailable while %s was down: the load did not reach it", pc.id)
			}
			w.B.Admin.Must(200, "GET", pluginRoute(t, pc.id, w.B), nil)
		})
	}
	t.Run("events", func(t *testing.T) { checkEvents(t, w) })
}

// loadSteps are the load of TestPluginKilled: Bob's probes, Alice and Bob
// changing their leads, and each install's admin voiding every cached
// permission of the install (any settings change does).
func loadSteps(w *world, probes []probe, tl *tally) []func() {
	var steps []func()
	for i := range probes {
		steps = append(steps, func() { probes[i].ask(tl) })
	}
	for _, in := range w.installs() {
		for _, m := range members(in) {
			steps = append(steps, changeOwnLead(tl, in, m))
		}
		steps = append(steps, func() {
			r, ok := tl.send(in.Admin, "PUT", "/v1/settings", map[string]any{"assign_by": "owners"})
			if ok && r.Status != http.StatusOK {
				tl.otherwise(in.Slug+": settings", r)
			}
			time.Sleep(100 * time.Millisecond)
		})
	}
	return steps
}

// hiddenFromBob sets up what each plugin hides from Bob in an install
// (hello's hidden type, a West lead shared with him, a revoked delegation)
// and returns the probes of it, and of what he may see.
func hiddenFromBob(t *testing.T, in *harness.Install) []probe {
	t.Helper()
	alice, bob := in.Records["alice"], in.Records["bob"]
	in.Admin.Must(200, "PUT", "/v1/plugins/hello/settings", map[string]any{"hidden_types": []string{"activity"}})
	west := in.Admin.Must(201, "POST", "/v1/teams", map[string]any{"name": "West"}).ID(t)
	westLead := in.Admin.Must(201, "POST", "/v1/records/lead", map[string]any{"data": map[string]any{"name": "West lead"}, "team_id": west}).ID(t)
	in.Admin.Must(201, "POST", "/v1/plugins/strict-ownership/api/records/lead/"+westLead+"/shares", map[string]any{"user_id": in.Bob.ID, "access": "view"})
	d := in.Alice.Must(201, "POST", "/v1/plugins/delegation/api/records/opportunity/"+alice["opportunity"]+"/delegations", map[string]any{"user_id": in.Bob.ID}).ID(t)
	in.Alice.Must(204, "DELETE", "/v1/plugins/delegation/api/delegations/"+d, nil)

	c := in.Bob
	probes := []probe{
		{plugin: "strict-ownership", c: c, what: "alice's contact", path: recordPath("contact", alice["contact"]), want: 404},
		{plugin: "strict-ownership", c: c, what: "alice's contact in his list of contacts", path: "/v1/records/contact?limit=200", want: 200, absent: alice["contact"]},
		{plugin: "teams", c: c, what: "the West lead shared with him", path: recordPath("lead", westLead), want: 404},
		{plugin: "teams", c: c, what: "the West lead in his list of leads", path: "/v1/records/lead?limit=200", want: 200, absent: westLead},
		{plugin: "delegation", c: c, what: "alice's opportunity, no longer delegated", path: recordPath("opportunity", alice["opportunity"]), want: 404},
		{plugin: "hello", c: c, what: "his own activity, of a hidden type", path: recordPath("activity", bob["activity"]), want: 404},
		{plugin: "hello", c: c, what: "his activity in his list of activities", path: "/v1/records/activity?limit=200", want: 200, absent: bob["activity"]},
		{c: c, what: "his own lead", path: recordPath("lead", bob["lead"]), want: 200},
		{c: c, what: "alice's lead, shared with him", path: recordPath("lead", alice["lead"]), want: 200},
		{c: c, what: "alice's account, delegated to him", path: recordPath("account", alice["account"]), want: 200},
	}
	for i := range probes {
		probes[i].slug = in.Slug
		if r := c.Do("GET", probes[i].path, nil); !probes[i].holds(r) {
			t.Fatalf("%s: before any kill, bob gets %s: %d %s", in.Slug, probes[i].what, r.Status, short(r.Body))
		}
	}
	return probes
}

// probe is a question a member asks under load, and the answer it must
// get: want, and for a list, no sign of absent.
type probe struct {
	plugin string // the plugin whose rule the answer shows; "" for what the member may see
	slug   string
	c      harness.Client
	what   string
	path   string
	want   int
	absent string
	n      int // times asked
}

// holds reports whether an answer is the one the probe wants.
func (p *probe) holds(r harness.Reply) bool {
	return r.Status == p.want && (p.absent == "" || !strings.Contains(string(r.Body), p.absent))
}

// ask asks once and judges the answer; it is called from one goroutine
// at a time.
func (p *probe) ask(tl *tally) {
	p.n++
	r, ok := tl.send(p.c, "GET", p.path, nil)
	switch {
	case !ok || p.holds(r):
	case p.plugin != "" && r.Status/100 == 2:
		tl.wrongf("%s: bob is shown %s, which %s hides: %d", p.slug, p.what, p.plugin, r.Status)
	default:
		tl.otherwise(p.slug+": bob asks for "+p.what, r)
	}
}

// asked returns how many times the probe was asked since the last call.
func (p *probe) asked() int {
	n := p.n
	p.n = 0
	return n
}

// pluginRoute is a route of a shipped plugin that an install's admin may
// call and that answers 200: what "the plugin serves the install" means
// in these tests.
func pluginRoute(t *testing.T, id string, in *harness.Install) string {
	t.Helper()
	switch id {
	case "strict-ownership":
		return "/v1/plugins/strict-ownership/api/records/lead/" + in.Records["alice"]["lead"] + "/shares"
	case "teams":
		return "/v1/plugins/teams/api/counts"
	case "delegation":
		return "/v1/plugins/delegation/api/delegations"
	case "hello":
		return "/v1/plugins/hello/api/rules"
	}
	t.Fatalf("no route known of plugin %s", id)
	return ""
}
