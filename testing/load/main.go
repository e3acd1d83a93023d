// Command load seeds a crmguard install on MySQL and measures a running host
// under load: it runs scenarios (healthz, get, check, batch-check, list,
// list-can-edit, search) at a given concurrency for a given time and prints
// one table of requests/s, checks/s, latency percentiles and errors.
//
//	go run ./testing/load -serve bin/crmguard            # 1M records, host started here
//	go run ./testing/load -addr http://127.0.0.1:8080    # against a host you run
//
// -serve takes a binary you build: `make build` puts crmguard in bin/ and
// the plugins in bin/plugins.
//
// Seeding happens once per install slug: a second run on the same database
// reuses the data. Requests go only to the host's address. A host started
// here starts cold (what an earlier run left in Redis for the install is
// deleted first); each scenario warms up before it is measured, and the
// host's cold policy computations are reported at the end.
//
// With -plugins strict-ownership the install gets sales reps whose scope
// covers 0.01%, 1% and 50% of the records and a manager of 50 users, the
// plugin is configured and activated, and their lists (first and later
// pages), searches and gets are measured too, with the plugin's calls
// reported at the end. With -plugins teams, a member of one seeded team,
// a member of three and a cross-team role are added, with their lists and
// searches; the seeded members get a cross-team role, so the default
// scenarios measure what they measure without the plugin; with both, the
// strict-ownership users are in one team. A run that does not name a
// plugin deactivates it. With -plugins delegation, the install holds
// 100,000 delegations, half of them expired, 2,000 of them to one
// delegate, whose lists are measured (with strict-ownership the delegate
// sees only what is delegated to them).
//
// With -existence N (and -plugins strict-ownership), the run ends by
// timing N GETs of records a sales rep may not see against N GETs of ids
// that name no record, one at a time and alternating: the two answers are
// the same 404 and should take as long.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

type options struct {
	dsn         string
	slug        string
	records     int
	users       int
	teams       int
	grants      int
	addr        string
	serve       string
	redisURL    string
	scenarios   string
	concurrency int
	duration    time.Duration
	batch       int
	rate        float64
	warmup      time.Duration
	plugins     string
	adopt       string
	adoptDSN    string
	existence   int
	// scenariosSet is true when -scenarios was given.
	scenariosSet bool
	// active are the plugins of -plugins, checked.
	active []string
}

// strict reports whether the run activates strict-ownership.
func (o options) strict() bool { return slices.Contains(o.active, "strict-ownership") }

// teamsActive reports whether the run activates teams.
func (o options) teamsActive() bool { return slices.Contains(o.active, "teams") }

// delegationActive reports whether the run activates delegation.
func (o options) delegationActive() bool { return slices.Contains(o.active, "delegation") }

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/crmguard_load", "MySQL DSN of the database to seed (created if missing)")
	flag.StringVar(&o.slug, "install", "", "slug of the install to seed and use (default: load-<records>)")
	flag.IntVar(&o.records, "records", 1_000_000, "records to seed, spread over the five types")
	flag.IntVar(&o.users, "users", 1000, "users to seed")
	flag.IntVar(&o.teams, "teams", 20, "teams to seed")
	flag.IntVar(&o.grants, "grants", 10_000, "grants to seed (half of them expired)")
	flag.StringVar(&o.addr, "addr", "", "base URL of a running host on the same database (default: start -serve)")
	flag.StringVar(&o.serve, "serve", "", "crmguard binary to start on the database for the run (e.g. bin/crmguard)")
	flag.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis for the host -serve starts; empty for none")
	flag.StringVar(&o.scenarios, "scenarios", strings.Join(scenarioNames, ","), "scenarios to run, comma-separated")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients per scenario")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "time per scenario")
	flag.IntVar(&o.batch, "batch", 100, "checks per request in batch-check")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "time per scenario spent warming the host's caches (as fast as the clients can) before measuring")
	flag.Float64Var(&o.rate, "rate", 0, "requests per second per scenario, spread over the clients (0: as fast as they can); latency counts from when a request was due")
	flag.StringVar(&o.plugins, "plugins", "", "plugins to activate and configure before the run, comma-separated: strict-ownership, teams, delegation (each adds its scenarios to the default ones)")
	flag.StringVar(&o.adopt, "adopt", "", "measure adoption mode instead: espocrm seeds EspoCRM's tables (-records leads) and serves them with config/adopt/espocrm.yaml")
	flag.IntVar(&o.existence, "existence", 0, "with -plugins strict-ownership, after the scenarios, time this many GETs of records a sales rep may not see, alternating with as many of ids that name no record, and print the median and p95 of each")
	flag.StringVar(&o.adoptDSN, "adopt-dsn", "root@tcp(127.0.0.1:3306)/crmguard_load_espocrm", "with -adopt, the MySQL DSN of the CRM's database (crmguard's tables go beside its own)")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { o.scenariosSet = o.scenariosSet || f.Name == "scenarios" })
	if o.slug == "" {
		o.slug = fmt.Sprintf("load-%d", o.records)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	runner := run
	if o.adopt != "" {
		runner = runAdopt
	}
	if err := runner(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if (o.addr == "") == (o.serve == "") {
		return fmt.Errorf("give exactly one of -addr (a running host) and -serve (a crmguard binary to start)")
	}
	var err error
	if o.active, err = pluginList(o.plugins); err != nil {
		return err
	}
	if o.strict() && o.users < minStrictUsers {
		return fmt.Errorf("-plugins strict-ownership needs -users %d or more: a manager of 50 and users who take over 1%% and 50%% of the records", minStrictUsers)
	}
	if o.existence > 0 && !o.strict() {
		return fmt.Errorf("-existence needs -plugins strict-ownership: without it every user sees every record")
	}
	if o.teamsActive() && o.teams < minTeams {
		return fmt.Errorf("-plugins teams needs -teams %d or more", minTeams)
	}
	if o.strict() {
		maps.Copy(scenarios, strictScenarios())
		if !o.scenariosSet {
			o.scenarios += "," + strings.Join(strictScenarioNames, ",")
		}
	}
	if o.delegationActive() {
		maps.Copy(scenarios, delegationScenarios())
		if !o.scenariosSet {
			o.scenarios += "," + strings.Join(delegationScenarioNames, ",")
		}
	}
	if o.teamsActive() {
		maps.Copy(scenarios, teamScenarios())
		if !o.scenariosSet {
			o.scenarios += "," + strings.Join(teamScenarioNames, ",")
		}
	}
	var names []string
	for _, n := range strings.Split(o.scenarios, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if _, ok := scenarios[n]; !ok {
				return fmt.Errorf("unknown scenario %q; the scenarios are %s", n, strings.Join(scenarioNames, ", "))
			}
			names = append(names, n)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fixture, err := seed(ctx, o, log)
	if err != nil {
		return err
	}
	defer fixture.close()
	if note, err := bufferPoolNote(ctx, o.dsn); err != nil {
		return err
	} else if note != "" {
		fmt.Fprintln(os.Stderr, note)
	}

	var host *hostProcess
	if o.serve != "" {
		if o.redisURL != "" {
			if err := forgetCache(ctx, o.redisURL, fixture.install.ID); err != nil {
				return err
			}
		}
		if host, err = startHost(ctx, o.serve, o.dsn, o.redisURL); err != nil {
			return err
		}
		defer host.stop()
		o.addr = host.base
	}
	if err := fixture.setPlugins(o.addr, o.active); err != nil {
		return err
	}
	if o.delegationActive() {
		if err := fixture.checkDelegate(o.addr); err != nil {
			return err
		}
	}
	pace := "as fast as they can"
	if o.rate > 0 {
		pace = fmt.Sprintf("%.0f requests/s", o.rate)
	}
	fmt.Printf("crmguard load: %d records, %d users, %d teams, %d grants in install %q; %d clients, %s, %s per scenario after %s of warm-up\n\n",
		fixture.records, o.users, o.teams, o.grants, o.slug, o.concurrency, pace, o.duration, o.warmup)
	results := runScenarios(ctx, o, names, func(o options, name string) step { return requestStep(o, fixture, scenarios[name]) })
	printTable(os.Stdout, results)
	if o.existence > 0 {
		if err := timeExistence(ctx, os.Stdout, fixture, o.addr, o.existence); err != nil {
			return err
		}
	}
	if n, median, err := policyComputations(o.addr); err != nil {
		fmt.Printf("\ncold policy computations: %v\n", err)
	} else if n > 0 {
		fmt.Printf("\ncold policy computations: %.0f, median %s\n", n, ms(median))
	}
	if len(o.active) > 0 {
		// Plugins shape policies; a warm request calls none of them.
		calls, err := pluginCalls(o.addr)
		if err != nil {
			fmt.Printf("plugin calls: %v\n", err)
		}
		var requests int
		for _, r := range results {
			requests += r.requests
		}
		for _, k := range slices.Sorted(maps.Keys(calls)) {
			fmt.Printf("plugin calls, %s: %.0f (the host's, since it started; %d requests measured)\n", k, calls[k], requests)
		}
	}
	if host != nil {
		if rss, err := host.rss(); err == nil {
			fmt.Printf("\nhost RSS at the end: %.0f MiB\n", float64(rss)/(1<<20))
		}
	}
	return nil
}
