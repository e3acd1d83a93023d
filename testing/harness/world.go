package harness

import (
	"fmt"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
)

// WorldOptions say where a World keeps its data.
type WorldOptions struct {
	// Driver and DSN are the host's database; empty means a fresh
	// database on the shared MySQL test server.
	Driver, DSN string
	// RedisURL is the host's Redis; empty means none.
	RedisURL string
	// Env is added to the host's and the commands' environment.
	Env []string
	// LogLines is the CLI's LogLines: how much of the server's log a
	// failed test shows (0: all).
	LogLines int
}

// World is one host running every shipped plugin, with two installs
// ("acme" and "globex") that each have all of them active, the same
// people, one team, and records of every type: what tests that probe the
// whole product (across installs, under faults) start from.
type World struct {
	CLI    *CLI
	Server *Server
	A, B   *Install
	// Driver and DSN are the host's database, for tests that look at
	// what it stored.
	Driver, DSN string
}

// Install is one install of a World and its people.
type Install struct {
	Slug string
	// Admin is an admin, Manager a manager whom Alice and Bob report to,
	// Alice and Bob members; Service holds the install's service token.
	Admin, Manager, Alice, Bob, Service Client
	// TeamID is the install's one team, which everyone is in.
	TeamID string
	// Records are the seeded records' ids, by owner ("alice", "bob") and
	// record type.
	Records map[string]map[string]string
	// ShareID is a strict-ownership share of Alice's lead with Bob (made
	// by the manager), and DelegationID a delegation of Alice's account to
	// Bob (made by Alice).
	ShareID, DelegationID string
}

// StrictSettings are the strict-ownership settings of a World's installs:
// members see, edit and delete only their own records, managers their
// reports' too.
var StrictSettings = map[string]any{"roles": map[string]any{
	"member":  scopesOf("own"),
	"manager": scopesOf("reports"),
}}

func scopesOf(scope string) map[string]any {
	out := map[string]any{}
	for _, t := range []string{"lead", "contact", "account", "opportunity", "activity"} {
		out[t] = map[string]any{"view": scope, "edit": scope, "delete": scope}
	}
	return out
}

// NewWorld sets up and serves a World.
func NewWorld(tb testing.TB, opts WorldOptions) *World {
	tb.Helper()
	if opts.Driver == "" {
		opts.Driver, opts.DSN = "mysql", storetest.MySQLDSN(tb)
	}
	env := append([]string{"CRMGUARD_PLUGIN_DIR=" + PluginDir(tb, Plugins...)}, opts.Env...)
	if opts.RedisURL != "" {
		env = append(env, "CRMGUARD_REDIS_URL="+opts.RedisURL)
	}
	c := NewCLI(tb, opts.Driver, opts.DSN, env...)
	c.LogLines = opts.LogLines
	c.Must("migrate")
	for _, slug := range []string{"acme", "globex"} {
		c.Must("install", "create", slug)
		c.Must("user", "create", "--install", slug, "--email", "admin@"+slug+".test", "--role", "admin")
		c.Must("user", "create", "--install", slug, "--email", "carol@"+slug+".test", "--role", "manager")
		for _, name := range []string{"alice", "bob"} {
			c.Must("user", "create", "--install", slug, "--email", name+"@"+slug+".test", "--manager", "carol@"+slug+".test")
		}
	}
	w := &World{CLI: c, Server: c.Serve(), Driver: opts.Driver, DSN: opts.DSN}
	w.A, w.B = w.setUp(tb, "acme"), w.setUp(tb, "globex")
	return w
}

// setUp activates every plugin in an install and seeds its records.
func (w *World) setUp(tb testing.TB, slug string) *Install {
	tb.Helper()
	in := &Install{Slug: slug, Records: map[string]map[string]string{}}
	base := w.Server.Base
	in.Admin = w.CLI.Login(tb, base, slug, "admin@"+slug+".test")
	in.Manager = w.CLI.Login(tb, base, slug, "carol@"+slug+".test")
	in.Alice = w.CLI.Login(tb, base, slug, "alice@"+slug+".test")
	in.Bob = w.CLI.Login(tb, base, slug, "bob@"+slug+".test")
	in.Service = w.CLI.ServiceClient(tb, base, slug)

	admin := in.Admin
	in.TeamID = admin.Must(201, "POST", "/v1/teams", map[string]any{"name": "Sales"}).ID(tb)
	var members []map[string]any
	for _, u := range []Client{in.Admin, in.Manager, in.Alice, in.Bob} {
		members = append(members, map[string]any{"user_id": u.ID, "primary": true})
	}
	admin.Must(200, "PUT", "/v1/teams/"+in.TeamID+"/members", map[string]any{"members": members})
	admin.Must(200, "PUT", "/v1/plugins/strict-ownership/settings", StrictSettings)
	for _, id := range Plugins {
		admin.Must(200, "POST", "/v1/plugins/"+id+"/activate", nil)
	}

	for name, u := range map[string]Client{"alice": in.Alice, "bob": in.Bob} {
		ids := map[string]string{}
		create := func(typ string, parent map[string]any) string {
			body := map[string]any{"data": map[string]any{"name": fmt.Sprintf("%s's %s in %s", name, typ, slug), "email": name + "@" + typ + ".example"},
				"owner_id": u.ID}
			if parent != nil {
				body["parent"] = parent
			}
			return u.Must(201, "POST", "/v1/records/"+typ, body).ID(tb)
		}
		ids["lead"] = create("lead", nil)
		ids["account"] = create("account", nil)
		ids["contact"] = create("contact", map[string]any{"type": "account", "id": ids["account"]})
		ids["opportunity"] = create("opportunity", map[string]any{"type": "account", "id": ids["account"]})
		ids["activity"] = create("activity", map[string]any{"type": "lead", "id": ids["lead"]})
		in.Records[name] = ids
	}
	in.ShareID = in.Manager.Must(201, "POST", "/v1/plugins/strict-ownership/api/records/lead/"+in.Records["alice"]["lead"]+"/shares",
		map[string]any{"user_id": in.Bob.ID, "access": "view"}).ID(tb)
	in.DelegationID = in.Alice.Must(201, "POST", "/v1/plugins/delegation/api/records/account/"+in.Records["alice"]["account"]+"/delegations",
		map[string]any{"user_id": in.Bob.ID}).ID(tb)
	return in
}
