package prober

import "strings"

// probe is one request of install A with a value of install B in it:
// {v} is the value (or its stand-in), {T} the type of a probed record,
// {me} the caller's own user id (the service token asks about Alice),
// {a.lead}, {a.alice}, ... A's own records (Alice's), people and team.
type probe struct {
	kind   string // the kind of value: record, user, team, grant, role, cursor
	method string
	path   string
	body   string // JSON, "" for none
	// api is the route of harness.APIRoutes the request reaches; plugin
	// and pattern name a plugin's route.
	api, plugin, pattern string
	// once probes the first value of its kind only: enough for a route
	// that reads no value (a plugin path that is no route).
	once bool
	// restore names the plugin whose settings the probe may change: they
	// are put back after each pair.
	restore string
}

const future = "2099-01-01T00:00:00Z"

// host is a probe of a route of the host's API.
func host(kind, method, path, body, api string) probe {
	return probe{kind: kind, method: method, path: path, body: body, api: api}
}

// plugin is a probe of a route of a plugin's API.
func plugin(kind, id, pattern, path, body string) probe {
	method, _, _ := strings.Cut(pattern, " ")
	return probe{kind: kind, method: method, path: "/v1/plugins/" + id + "/api" + path, body: body,
		api: method + " /v1/plugins/:id/api/*path", plugin: id, pattern: pattern}
}

func settings(kind, id, body string) probe {
	p := host(kind, "PUT", "/v1/plugins/"+id+"/settings", body, "PUT /v1/plugins/:id/settings")
	p.restore = id
	return p
}

// strictRoles are the World's strict-ownership scopes, kept in the
// settings a probe sends so that an accepted probe changes nothing else.
const strictRoles = `"roles":{"member":{"lead":{"view":"own","edit":"own","delete":"own"},"contact":{"view":"own","edit":"own","delete":"own"},` +
	`"account":{"view":"own","edit":"own","delete":"own"},"opportunity":{"view":"own","edit":"own","delete":"own"},"activity":{"view":"own","edit":"own","delete":"own"}},` +
	`"manager":{"lead":{"view":"reports","edit":"reports","delete":"reports"},"contact":{"view":"reports","edit":"reports","delete":"reports"},` +
	`"account":{"view":"reports","edit":"reports","delete":"reports"},"opportunity":{"view":"reports","edit":"reports","delete":"reports"},"activity":{"view":"reports","edit":"reports","delete":"reports"}}}`

// probes are every request of A that takes an id, a name or a cursor, in
// the order they run: the role probe that creates a role in A runs last,
// since the role then exists in A.
func probes() []probe {
	ps := []probe{
		// B's records, of every type.
		host("record", "GET", "/v1/records/{T}/{v}", "", "GET /v1/records/:type/:id"),
		host("record", "PATCH", "/v1/records/{T}/{v}", `{"data":{"name":"probe"}}`, "PATCH /v1/records/:type/:id"),
		host("record", "DELETE", "/v1/records/{T}/{v}", "", "DELETE /v1/records/:type/:id"),
		host("record", "PUT", "/v1/records/{T}/{v}/owner", `{"owner_id":"{a.alice}"}`, "PUT /v1/records/:type/:id/owner"),
		host("record", "GET", "/v1/records/{T}/{v}/related", "", "GET /v1/records/:type/:id/related"),
		host("record", "GET", "/v1/records/{T}/{v}/access", "", "GET /v1/records/:type/:id/access"),
		host("record", "POST", "/v1/records/{T}/{v}:changed", "", "POST /v1/records/:type/:id:changed"),
		host("record", "POST", "/v1/records/{T}/{v}", "", "POST /v1/records/:type/:id"),
		host("record", "POST", "/v1/records/activity", `{"data":{"name":"probe"},"parent":{"type":"{T}","id":"{v}"}}`, "POST /v1/records/:type"),
		host("record", "PATCH", "/v1/records/activity/{a.activity}", `{"parent":{"type":"{T}","id":"{v}"}}`, "PATCH /v1/records/:type/:id"),
		host("record", "POST", "/v1/authz/check", `{"checks":[{"user_id":"{me}","action":"view","type":"{T}","id":"{v}"},{"user_id":"{me}","action":"edit","type":"{T}","id":"{v}"}],"explain":true}`, "POST /v1/authz/check"),
		plugin("record", "strict-ownership", "GET /records/{type}/{id}/shares", "/records/{T}/{v}/shares", ""),
		plugin("record", "strict-ownership", "POST /records/{type}/{id}/shares", "/records/{T}/{v}/shares", `{"user_id":"{a.bob}","access":"view"}`),
		plugin("record", "strict-ownership", "PATCH /records/{type}/{id}/shares/{share}", "/records/{T}/{v}/shares/{a.share}", `{"access":"view+edit"}`),
		plugin("record", "strict-ownership", "DELETE /records/{type}/{id}/shares/{share}", "/records/{T}/{v}/shares/{a.share}", ""),
		plugin("record", "delegation", "GET /records/{type}/{id}/delegations", "/records/{T}/{v}/delegations", ""),
		plugin("record", "delegation", "POST /records/{type}/{id}/delegations", "/records/{T}/{v}/delegations", `{"user_id":"{a.bob}"}`),
		plugin("record", "delegation", "POST /delegations:bulk", "/delegations:bulk", `{"user_id":"{a.bob}","type":"{T}","ids":["{v}"]}`),
		plugin("record", "teams", "POST /records/{type}/move", "/records/{T}/move", `{"ids":["{v}"],"to":"none"}`),

		// B's people.
		host("user", "GET", "/v1/records/lead?owner={v}", "", "GET /v1/records/:type"),
		host("user", "GET", "/v1/records/lead:count?owner={v}", "", "GET /v1/records/:type:count"),
		host("user", "POST", "/v1/records/lead", `{"data":{"name":"probe"},"owner_id":"{v}"}`, "POST /v1/records/:type"),
		host("user", "PUT", "/v1/records/lead/{a.lead}/owner", `{"owner_id":"{v}"}`, "PUT /v1/records/:type/:id/owner"),
		host("user", "POST", "/v1/records/lead:reassign", `{"from":"{v}","to":"{a.bob}"}`, "POST /v1/records/:type:reassign"),
		host("user", "POST", "/v1/records/lead:reassign", `{"from":"{a.manager}","to":"{v}"}`, "POST /v1/records/:type:reassign"),
		host("user", "POST", "/v1/users", `{"email":"probe@acme.test","manager_id":"{v}"}`, "POST /v1/users"),
		host("user", "GET", "/v1/users/{v}", "", "GET /v1/users/:id"),
		host("user", "PATCH", "/v1/users/{v}", `{"name":"probe"}`, "PATCH /v1/users/:id"),
		host("user", "PATCH", "/v1/users/{a.bob}", `{"manager_id":"{v}"}`, "PATCH /v1/users/:id"),
		host("user", "POST", "/v1/users/{v}:changed", "", "POST /v1/users/:id:changed"),
		host("user", "POST", "/v1/users/{v}", "", "POST /v1/users/:id"),
		host("user", "PUT", "/v1/teams/{a.team}/members", `{"members":[{"user_id":"{v}","primary":false}]}`, "PUT /v1/teams/:id/members"),
		host("user", "GET", "/v1/notifications?user={v}", "", "GET /v1/notifications"),
		host("user", "POST", "/v1/authz/check", `{"checks":[{"user_id":"{v}","action":"view","type":"lead","id":"{a.lead}"}],"explain":true}`, "POST /v1/authz/check"),
		host("user", "POST", "/v1/authz/filter", `{"user_id":"{v}","action":"view","type":"lead"}`, "POST /v1/authz/filter"),
		plugin("user", "strict-ownership", "POST /records/{type}/{id}/shares", "/records/lead/{a.lead}/shares", `{"user_id":"{v}","access":"view"}`),
		plugin("user", "delegation", "POST /records/{type}/{id}/delegations", "/records/account/{a.account}/delegations", `{"user_id":"{v}"}`),
		plugin("user", "delegation", "POST /delegations:bulk", "/delegations:bulk", `{"user_id":"{v}","type":"lead","ids":["{a.lead}"]}`),
		plugin("user", "delegation", "POST /delegations:bulk", "/delegations:bulk", `{"user_id":"{a.bob}","type":"lead","owner_id":"{v}"}`),
		plugin("user", "delegation", "GET /delegations", "/delegations?user={v}", ""),
		settings("user", "strict-ownership", `{`+strictRoles+`,"assignment_rules":[{"type":"lead","match":[{"field":"name","op":"equals","value":"nobody"}],"assign_to":{"user":"{v}"}}]}`),

		// B's team.
		host("team", "GET", "/v1/teams/{v}", "", "GET /v1/teams/:id"),
		host("team", "PUT", "/v1/teams/{v}/members", `{"members":[{"user_id":"{a.alice}","primary":false}]}`, "PUT /v1/teams/:id/members"),
		host("team", "POST", "/v1/records/lead", `{"data":{"name":"probe"},"team_id":"{v}"}`, "POST /v1/records/:type"),
		host("team", "PATCH", "/v1/records/lead/{a.lead}", `{"team_id":"{v}"}`, "PATCH /v1/records/:type/:id"),
		host("team", "GET", "/v1/records/lead?team={v}", "", "GET /v1/records/:type"),
		host("team", "GET", "/v1/records/lead:count?team={v}", "", "GET /v1/records/:type:count"),
		plugin("team", "strict-ownership", "POST /records/{type}/{id}/shares", "/records/lead/{a.lead}/shares", `{"team_id":"{v}","access":"view"}`),
		plugin("team", "teams", "POST /records/{type}/move", "/records/lead/move", `{"from":"{v}","to":"none"}`),
		plugin("team", "teams", "POST /records/{type}/move", "/records/lead/move", `{"ids":["{a.lead}"],"to":"{v}"}`),
		settings("team", "strict-ownership", `{`+strictRoles+`,"assignment_rules":[{"type":"lead","match":[{"field":"name","op":"equals","value":"nobody"}],"assign_to":{"team":"{v}"}}]}`),
		settings("team", "delegation", `{"disabled":{"lead":{"teams":["{v}"]}}}`),

		// B's grants: a share (strict-ownership) and a delegation.
		plugin("grant", "strict-ownership", "PATCH /records/{type}/{id}/shares/{share}", "/records/lead/{a.lead}/shares/{v}", `{"access":"view+edit"}`),
		plugin("grant", "strict-ownership", "DELETE /records/{type}/{id}/shares/{share}", "/records/lead/{a.lead}/shares/{v}", ""),
		plugin("grant", "delegation", "PATCH /delegations/{id}", "/delegations/{v}", `{"expires_at":"`+future+`"}`),
		plugin("grant", "delegation", "DELETE /delegations/{id}", "/delegations/{v}", ""),
		plugin("grant", "delegation", "DELETE /delegations", "/delegations?ids={v}", ""),

		// Cursors of B's lists, and cursors made of B's record, user,
		// notification, audit and grant ids.
		host("cursor", "GET", "/v1/records/lead?cursor={v}&limit=1", "", "GET /v1/records/:type"),
		host("cursor", "GET", "/v1/records/account?cursor={v}&limit=1", "", "GET /v1/records/:type"),
		host("cursor", "GET", "/v1/users?cursor={v}&limit=1", "", "GET /v1/users"),
		host("cursor", "GET", "/v1/notifications?user=all&cursor={v}&limit=1", "", "GET /v1/notifications"),
		host("cursor", "GET", "/v1/records/account/{a.account}/related?cursor={v}&limit=1", "", "GET /v1/records/:type/:id/related"),
		host("cursor", "GET", "/v1/records/lead/{a.lead}/access?cursor={v}&limit=1", "", "GET /v1/records/:type/:id/access"),
		plugin("cursor", "delegation", "GET /delegations", "/delegations?cursor={v}&limit=1", ""),

		// B's role (roles are named, per install).
		host("role", "GET", "/v1/roles/{v}", "", "GET /v1/roles/:name"),
		host("role", "POST", "/v1/users", `{"email":"probe-role@acme.test","role":"{v}"}`, "POST /v1/users"),
		settings("role", "teams", `{"cross_team_roles":["admin","{v}"]}`),
		settings("role", "delegation", `{"delegate_roles":["{v}"]}`),
		settings("role", "strict-ownership", `{`+strictRoles+`,"share_roles":["admin","{v}"]}`),
		host("role", "PUT", "/v1/roles/{v}", `{"description":"probe","capabilities":[]}`, "PUT /v1/roles/:name"),
	}
	// Paths under a plugin's prefix that are none of its routes, on every
	// method Gin forwards, with B's id in them.
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"} {
		ps = append(ps, probe{kind: "record", method: m, path: "/v1/plugins/strict-ownership/api/records/{T}/{v}", once: true,
			api: m + " /v1/plugins/:id/api/*path"})
	}
	return ps
}

// noValue are the routes that take no id, name or cursor of an install:
// nothing of B can be sent to them.
var noValue = map[string]string{
	"GET /healthz":                                  "takes no input",
	"GET /readyz":                                   "takes no input",
	"GET /metrics":                                  "takes no input",
	"GET /v1/me":                                    "takes no input",
	"GET /v1/roles":                                 "takes no input",
	"GET /v1/teams":                                 "takes no input",
	"POST /v1/teams":                                "takes a name for a new team, which names nothing",
	"GET /v1/settings":                              "takes no input",
	"PUT /v1/settings":                              "takes the install's assignment settings, no id",
	"GET /v1/plugins":                               "takes no input",
	"POST /v1/plugins/:id/activate":                 "takes a plugin id, which is the host's, not an install's",
	"POST /v1/plugins/:id/deactivate":               "takes a plugin id, which is the host's, not an install's",
	"GET /v1/plugins/:id/settings":                  "takes a plugin id, which is the host's, not an install's",
	"POST /v1/admin/plugins/:id/restart":            "the operator's, with a plugin id, which is the host's",
	"GET /v1/admin/outbox/dead-letters":             "the operator's, who runs the host: no install's token reaches it",
	"GET /v1/admin/outbox/dead-letters/:id":         "the operator's, who runs the host: no install's token reaches it",
	"POST /v1/admin/outbox/dead-letters/:id/replay": "the operator's, who runs the host: no install's token reaches it",
	"POST /v1/admin/outbox/dead-letters/replay":     "the operator's, who runs the host: no install's token reaches it",
	"hello GET /rules":                              "takes no input",
	"hello GET /writes":                             "takes no input",
	"hello GET /visits":                             "takes no input",
	"hello POST /visits":                            "takes no input",
	"teams GET /counts":                             "takes a record type only",
}
