package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

// scenarioNames lists the scenarios in the order they run by default.
var scenarioNames = []string{"healthz", "get", "check", "batch-check", "list", "list-can-edit", "search"}

// request builds one request of a scenario and says how many access checks
// it makes.
// Bodies are written by hand, not with encoding/json: the generator shares
// the machine with the host, and its own cost should stay small.
type request func(rng *rand.Rand, f *fixture, o options) (method, path, token string, body []byte, checks int)

var scenarios = map[string]request{
	"healthz": func(*rand.Rand, *fixture, options) (string, string, string, []byte, int) {
		return "GET", "/healthz", "", nil, 0
	},
	"get": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		t, id := f.randomRecord(rng)
		return "GET", "/v1/records/" + string(t) + "/" + id, f.randomUser(rng).token, nil, 1
	},
	"check": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		return "POST", "/v1/authz/check", f.serviceToken, f.checkBody(rng, 1), 1
	},
	"batch-check": func(rng *rand.Rand, f *fixture, o options) (string, string, string, []byte, int) {
		return "POST", "/v1/authz/check", f.serviceToken, f.checkBody(rng, o.batch), o.batch
	},
	"list": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50" + f.laterPage(rng), f.randomUser(rng).token, nil, 0
	},
	"list-can-edit": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		// Half the requests for the user who may edit 0.01% of the records.
		u := f.randomUser(rng)
		if rng.IntN(2) == 0 {
			u = f.sparse
		}
		return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?can=edit&limit=50" + f.laterPage(rng), u.token, nil, 0
	},
	"search": func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50&q=" + words[rng.IntN(len(words))], f.randomUser(rng).token, nil, 0
	},
}

func (f *fixture) randomUser(rng *rand.Rand) tokenUser { return f.users[rng.IntN(len(f.users))] }

func (f *fixture) randomRecord(rng *rand.Rand) (crm.RecordType, string) {
	t := crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]
	ids := f.ids[t]
	return t, ids[rng.IntN(len(ids))]
}

// checkBody is a request of n random checks: random users, records and
// actions (view, edit or delete).
func (f *fixture) checkBody(rng *rand.Rand, n int) []byte {
	actions := []string{"view", "edit", "delete"}
	b := make([]byte, 0, 32+n*110)
	b = append(b, `{"checks":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		t, id := f.randomRecord(rng)
		b = append(b, `{"user_id":"`...)
		b = append(b, f.userIDs[rng.IntN(len(f.userIDs))]...)
		b = append(b, `","action":"`...)
		b = append(b, actions[rng.IntN(len(actions))]...)
		b = append(b, `","type":"`...)
		b = append(b, t...)
		b = append(b, `","id":"`...)
		b = append(b, id...)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// laterPage makes half of the list requests ask for a later page: one that
// continues before a random sampled record.
func (f *fixture) laterPage(rng *rand.Rand) string {
	if rng.IntN(2) == 0 {
		return ""
	}
	_, id := f.randomRecord(rng)
	return "&cursor=" + service.CursorAt(id)
}

// result is one scenario's figures.
type result struct {
	name      string
	requests  int
	checks    int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
	firstErr  string
}

// step is one request of a scenario, made with client; it says how many
// access checks it made.
type step func(ctx context.Context, rng *rand.Rand, client *http.Client) (checks int, err error)

// requestStep is the step of a scenario of one HTTP request to the host.
func requestStep(o options, f *fixture, build request) step {
	return func(ctx context.Context, rng *rand.Rand, client *http.Client) (int, error) {
		method, path, token, body, checks := build(rng, f, o)
		return checks, do(ctx, client, o.addr, method, path, token, body)
	}
}

// runScenarios runs each named scenario in turn, each after its warm-up,
// and returns their figures.
func runScenarios(ctx context.Context, o options, names []string, stepOf func(o options, name string) step) []result {
	var results []result
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		if o.warmup > 0 {
			warm := o
			warm.duration, warm.rate = o.warmup, 0 // as fast as it can: warm is warm
			runScenario(ctx, warm, name, stepOf(warm, name))
		}
		results = append(results, runScenario(ctx, o, name, stepOf(o, name)))
	}
	return results
}

// runScenario runs one scenario with o.concurrency clients for o.duration.
func runScenario(ctx context.Context, o options, name string, next step) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2}, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu  sync.Mutex
		res = result{name: name}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for w := range o.concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var local result
			// With a rate, each client sends on a schedule, staggered, and a
			// request's latency counts from when it was due: a host that
			// falls behind is not excused by the clients waiting for it.
			var every time.Duration
			due := start
			if o.rate > 0 {
				every = time.Duration(float64(o.concurrency) / o.rate * float64(time.Second))
				due = start.Add(every * time.Duration(w) / time.Duration(o.concurrency))
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				if every > 0 {
					if wait := time.Until(due); wait > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(wait):
						}
					}
					t0, due = due, due.Add(every)
				}
				checks, err := next(ctx, rng, client)
				if ctx.Err() != nil {
					break // the deadline cut this request short: do not count it
				}
				local.latencies = append(local.latencies, time.Since(t0))
				local.requests++
				local.checks += checks
				if err != nil {
					local.errors++
					if local.firstErr == "" {
						local.firstErr = err.Error()
					}
				}
			}
			mu.Lock()
			res.requests += local.requests
			res.checks += local.checks
			res.errors += local.errors
			res.latencies = append(res.latencies, local.latencies...)
			if res.firstErr == "" {
				res.firstErr = local.firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

func do(ctx context.Context, client *http.Client, base, method, path, token string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(float64(len(r.latencies))*p))]
}
