package fuzz

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// route is one route of the API as the fuzzer reaches it.
type route struct {
	// name is the route in the figures: the path with {parameters}, and
	// the suffix of an action route.
	name string
	// api is the route of harness.APIRoutes that serves it.
	api string
	// plugin and pattern name a route of a plugin's own API: the plugin
	// and the pattern its ServeMux was given.
	plugin, pattern string
	auth            auth
	// admin says only administrators may use the route.
	admin bool
	// weight is how many times more often than others the route is
	// chosen (0 counts as 1): writes of records more often, so that
	// events are written.
	weight int
	// lists says the route answers a page with a next_cursor, and takes
	// one in ?cursor=.
	lists bool
	// ifMatch says the route honours If-Match.
	ifMatch bool
	// build fills in a valid request (as valid as the fuzzer's knowledge
	// allows) for q.in and q.who.
	build func(f *fuzzer, q *request)
	// learn takes in what a 2xx answer tells about the install.
	learn func(f *fuzzer, q *request, rep reply)
}

// hostRoutes are the routes of the host's own API.
func hostRoutes() []*route {
	return []*route{
		{name: "GET /healthz", api: "GET /healthz", auth: authNone, build: get("healthz")},
		{name: "GET /readyz", api: "GET /readyz", auth: authNone, build: get("readyz")},
		{name: "GET /metrics", api: "GET /metrics", auth: authNone, build: get("metrics")},
		{name: "GET /v1/me", api: "GET /v1/me", auth: authUser, build: get("v1", "me")},
		{name: "GET /v1/records/{type}", api: "GET /v1/records/:type", auth: authUser, lists: true, weight: 2, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("records"), param(pick(f.r, recordTypes))}
			f.listQuery(q)
		}},
		{name: "GET /v1/records/{type}:count", api: "GET /v1/records/:type:count", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("records"), param(pick(f.r, recordTypes) + ":count")}
			f.listQuery(q)
			q.query = q.query[:len(q.query)-1] // no limit
		}},
		{name: "POST /v1/records/{type}", api: "POST /v1/records/:type", auth: authUser, weight: 5, build: func(f *fuzzer, q *request) {
			typ := pick(f.r, recordTypes)
			q.method, q.segs = "POST", []segment{lit("v1"), lit("records"), param(typ)}
			q.body = f.newRecord(q.in, typ)
		}, learn: func(f *fuzzer, q *request, rep reply) {
			if typ, id := rep.str("type"), rep.str("id"); typ != "" && id != "" {
				q.in.records[typ] = append(q.in.records[typ], id)
			}
		}},
		{name: "POST /v1/records/{type}:reassign", admin: true, api: "POST /v1/records/:type:reassign", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("records"), param(pick(f.r, recordTypes) + ":reassign")}
			body := map[string]any{"from": f.user(q.in)}
			if f.r.IntN(4) > 0 {
				body["to"] = f.user(q.in)
			}
			q.body = body
		}},
		{name: "GET /v1/records/{type}/{id}", api: "GET /v1/records/:type/:id", auth: authUser, weight: 2, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "GET", []segment{lit("v1"), lit("records"), param(typ), param(id)}
		}},
		{name: "PATCH /v1/records/{type}/{id}", api: "PATCH /v1/records/:type/:id", auth: authUser, ifMatch: true, weight: 3, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "PATCH", []segment{lit("v1"), lit("records"), param(typ), param(id)}
			body := map[string]any{}
			if f.r.IntN(3) > 0 {
				body["data"] = f.data(typ)
			}
			if f.r.IntN(4) == 0 {
				body["team_id"] = f.team(q.in)
			}
			if f.r.IntN(5) == 0 {
				body["parent"] = f.parent(q.in, typ)
			}
			q.body = body
			f.ifMatch(q)
		}},
		{name: "DELETE /v1/records/{type}/{id}", api: "DELETE /v1/records/:type/:id", auth: authUser, ifMatch: true, weight: 2, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "DELETE", []segment{lit("v1"), lit("records"), param(typ), param(id)}
			f.ifMatch(q)
		}},
		{name: "PUT /v1/records/{type}/{id}/owner", api: "PUT /v1/records/:type/:id/owner", auth: authUser, ifMatch: true, weight: 2, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "PUT", []segment{lit("v1"), lit("records"), param(typ), param(id), lit("owner")}
			q.body = map[string]any{"owner_id": f.user(q.in)}
			f.ifMatch(q)
		}},
		{name: "GET /v1/records/{type}/{id}/related", api: "GET /v1/records/:type/:id/related", auth: authUser, lists: true, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "GET", []segment{lit("v1"), lit("records"), param(typ), param(id), lit("related")}
			if f.r.IntN(2) == 0 {
				q.setQuery("type", pick(f.r, recordTypes))
			}
			f.pageQuery(q)
		}},
		{name: "GET /v1/records/{type}/{id}/access", api: "GET /v1/records/:type/:id/access", auth: authUser, lists: true, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "GET", []segment{lit("v1"), lit("records"), param(typ), param(id), lit("access")}
			f.pageQuery(q)
		}},
		{name: "POST /v1/records/{type}/{id}:changed", api: "POST /v1/records/:type/:id:changed", auth: authToken, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "POST", []segment{lit("v1"), lit("records"), param(typ), param(id + ":changed")}
		}},
		{name: "POST /v1/records/{type}/{id}", api: "POST /v1/records/:type/:id", auth: authToken, build: func(f *fuzzer, q *request) {
			typ, id := f.record(q.in)
			q.method, q.segs = "POST", []segment{lit("v1"), lit("records"), param(typ), param(id)}
		}},
		{name: "GET /v1/users", api: "GET /v1/users", auth: authUser, lists: true, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("users")}
			f.pageQuery(q)
		}},
		{name: "POST /v1/users", admin: true, api: "POST /v1/users", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("users")}
			body := map[string]any{"email": fmt.Sprintf("u%d@%s.test", f.r.Uint32(), q.in.slug), "name": "Fuzzed user"}
			if f.r.IntN(2) == 0 {
				body["role"] = pick(f.r, append([]string{"member", "manager", "admin"}, q.in.roles...))
			}
			if f.r.IntN(2) == 0 {
				body["manager_id"] = f.user(q.in)
			}
			q.body = body
		}, learn: func(f *fuzzer, q *request, rep reply) {
			if id := rep.str("id"); id != "" {
				q.in.users = append(q.in.users, id)
			}
		}},
		{name: "GET /v1/users/{id}", api: "GET /v1/users/:id", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("users"), param(f.user(q.in))}
		}},
		{name: "PATCH /v1/users/{id}", admin: true, api: "PATCH /v1/users/:id", auth: authUser, build: func(f *fuzzer, q *request) {
			id := f.user(q.in)
			q.method, q.segs = "PATCH", []segment{lit("v1"), lit("users"), param(id)}
			body := map[string]any{}
			if f.r.IntN(2) == 0 {
				body["name"] = fmt.Sprintf("Fuzzed %d", f.r.IntN(1000))
			}
			if f.r.IntN(3) == 0 {
				if m := f.user(q.in); m != "" || f.r.IntN(2) == 0 {
					body["manager_id"] = m
				} else {
					body["manager_id"] = nil
				}
			}
			// The people the fuzzer acts as keep their role and stay
			// enabled, so that its requests go on reaching every route.
			if !slices.Contains(q.in.users[:4], id) {
				if f.r.IntN(2) == 0 {
					body["role"] = pick(f.r, append([]string{"member", "manager", "admin"}, q.in.roles...))
				}
				if f.r.IntN(3) == 0 {
					body["disabled"] = f.r.IntN(2) == 0
				}
			}
			q.body = body
		}},
		{name: "POST /v1/users/{id}:changed", api: "POST /v1/users/:id:changed", auth: authToken, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("users"), param(f.user(q.in) + ":changed")}
		}},
		{name: "POST /v1/users/{id}", api: "POST /v1/users/:id", auth: authToken, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("users"), param(f.user(q.in))}
		}},
		{name: "GET /v1/roles", api: "GET /v1/roles", auth: authUser, build: get("v1", "roles")},
		{name: "GET /v1/roles/{name}", api: "GET /v1/roles/:name", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("roles"), param(f.role(q.in))}
		}},
		{name: "PUT /v1/roles/{name}", admin: true, api: "PUT /v1/roles/:name", auth: authUser, build: func(f *fuzzer, q *request) {
			name := f.role(q.in)
			if f.r.IntN(2) == 0 {
				name = fmt.Sprintf("role-%d", f.r.IntN(20))
			}
			q.method, q.segs = "PUT", []segment{lit("v1"), lit("roles"), param(name)}
			caps := []any{}
			for _, c := range []string{"admin", "reassign"} {
				if f.r.IntN(3) == 0 {
					caps = append(caps, c)
				}
			}
			q.body = map[string]any{"description": "A role the fuzzer made", "capabilities": caps}
		}, learn: func(f *fuzzer, q *request, rep reply) {
			if name := rep.str("name"); rep.status == 201 && name != "" {
				q.in.roles = append(q.in.roles, name)
			}
		}},
		{name: "GET /v1/teams", api: "GET /v1/teams", auth: authUser, build: get("v1", "teams")},
		{name: "POST /v1/teams", admin: true, api: "POST /v1/teams", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("teams")}
			q.body = map[string]any{"name": fmt.Sprintf("Team %d", f.r.IntN(1000))}
		}, learn: func(f *fuzzer, q *request, rep reply) {
			if id := rep.str("id"); id != "" {
				q.in.teams = append(q.in.teams, id)
			}
		}},
		{name: "GET /v1/teams/{id}", api: "GET /v1/teams/:id", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("teams"), param(f.team(q.in))}
		}},
		{name: "PUT /v1/teams/{id}/members", admin: true, api: "PUT /v1/teams/:id/members", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "PUT", []segment{lit("v1"), lit("teams"), param(f.team(q.in)), lit("members")}
			members := []any{}
			for _, u := range q.in.users[:4] {
				if f.r.IntN(5) > 0 {
					members = append(members, map[string]any{"user_id": u, "primary": f.r.IntN(2) == 0})
				}
			}
			if f.r.IntN(4) == 0 {
				members = append(members, map[string]any{"user_id": f.user(q.in), "primary": false})
			}
			q.body = map[string]any{"members": members}
		}},
		{name: "GET /v1/settings", api: "GET /v1/settings", auth: authUser, build: get("v1", "settings")},
		{name: "PUT /v1/settings", admin: true, api: "PUT /v1/settings", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "PUT", []segment{lit("v1"), lit("settings")}
			body := map[string]any{}
			if f.r.IntN(2) == 0 {
				body["assignment_enabled"] = f.r.IntN(4) > 0
			}
			if f.r.IntN(2) == 0 {
				body["assign_by"] = pick(f.r, []string{"admins", "owners", "everyone"})
			}
			q.body = body
		}},
		{name: "GET /v1/notifications", api: "GET /v1/notifications", auth: authUser, lists: true, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("notifications")}
			switch f.r.IntN(3) {
			case 0:
				q.setQuery("user", "all")
			case 1:
				q.setQuery("user", f.user(q.in))
			}
			f.pageQuery(q)
		}},
		{name: "GET /v1/plugins", api: "GET /v1/plugins", auth: authUser, build: get("v1", "plugins")},
		{name: "POST /v1/plugins/{id}/activate", admin: true, api: "POST /v1/plugins/:id/activate", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("plugins"), param(f.pluginID()), lit("activate")}
		}},
		{name: "POST /v1/plugins/{id}/deactivate", admin: true, api: "POST /v1/plugins/:id/deactivate", auth: authUser, build: func(f *fuzzer, q *request) {
			// hello counts the writes the witness compares: it stays on.
			q.method, q.segs = "POST", []segment{lit("v1"), lit("plugins"), param(pick(f.r, []string{"strict-ownership", "teams", "delegation", "nope"})), lit("deactivate")}
		}},
		{name: "GET /v1/plugins/{id}/settings", admin: true, api: "GET /v1/plugins/:id/settings", auth: authUser, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", []segment{lit("v1"), lit("plugins"), param(f.pluginID()), lit("settings")}
		}},
		{name: "PUT /v1/plugins/{id}/settings", admin: true, api: "PUT /v1/plugins/:id/settings", auth: authUser, weight: 4, build: func(f *fuzzer, q *request) {
			p := pick(f.r, f.plugins)
			q.method, q.segs = "PUT", []segment{lit("v1"), lit("plugins"), param(p.id), lit("settings")}
			f.settingsBody(q, p)
		}},
		{name: "POST /v1/authz/check", api: "POST /v1/authz/check", auth: authToken, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("authz"), lit("check")}
			var checks []any
			for range 1 + f.r.IntN(4) {
				typ, id := f.record(q.in)
				checks = append(checks, map[string]any{"user_id": f.asker(q), "action": f.action(), "type": typ, "id": id})
			}
			q.body = map[string]any{"checks": checks, "explain": f.r.IntN(2) == 0}
		}},
		{name: "POST /v1/authz/filter", api: "POST /v1/authz/filter", auth: authToken, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("authz"), lit("filter")}
			body := map[string]any{"user_id": f.asker(q), "action": f.action(), "type": pick(f.r, recordTypes)}
			if f.r.IntN(3) == 0 {
				body["alias"] = pick(f.r, []string{"r", "leads", "x1", "a b", "r;--", ""})
			}
			q.body = body
		}},
		{name: "POST /v1/admin/plugins/{id}/restart", api: "POST /v1/admin/plugins/:id/restart", auth: authOperator, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", []segment{lit("v1"), lit("admin"), lit("plugins"), param(f.pluginID()), lit("restart")}
		}},
		{name: "GET /v1/admin/outbox/dead-letters", api: "GET /v1/admin/outbox/dead-letters", auth: authOperator, lists: true, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", deadLetters()
			f.deadLetterFilter(q, q.setQuery)
			if f.r.IntN(2) == 0 {
				q.setQuery("limit", strconv.Itoa(f.r.IntN(120)))
			}
		}},
		{name: "GET /v1/admin/outbox/dead-letters/{id}", api: "GET /v1/admin/outbox/dead-letters/:id", auth: authOperator, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "GET", append(deadLetters(), param(f.deadLetterID()))
		}},
		{name: "POST /v1/admin/outbox/dead-letters/{id}/replay", api: "POST /v1/admin/outbox/dead-letters/:id/replay", auth: authOperator, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", append(deadLetters(), param(f.deadLetterID()), lit("replay"))
		}},
		{name: "POST /v1/admin/outbox/dead-letters/replay", api: "POST /v1/admin/outbox/dead-letters/replay", auth: authOperator, build: func(f *fuzzer, q *request) {
			q.method, q.segs = "POST", append(deadLetters(), lit("replay"))
			if f.r.IntN(2) == 0 {
				q.body = map[string]any{"ids": []string{f.deadLetterID(), f.deadLetterID()}}
				return
			}
			body := map[string]any{"all": true}
			f.deadLetterFilter(q, func(k, v string) { body[k] = v })
			q.body = body
		}},
	}
}

// get builds a GET of a fixed path.
func get(path ...string) func(*fuzzer, *request) {
	return func(f *fuzzer, q *request) {
		q.method = "GET"
		q.segs = nil
		for _, p := range path {
			q.segs = append(q.segs, lit(p))
		}
	}
}

// listQuery sets the filters of a list of records, and a page.
func (f *fuzzer) listQuery(q *request) {
	if f.r.IntN(3) == 0 {
		q.setQuery("q", pick(f.r, []string{"alice", "bob", "a", "%25", "fuzz", "in%20acme"}))
	}
	if f.r.IntN(3) == 0 {
		q.setQuery("owner", pick(f.r, []string{"me", "none", f.user(q.in)}))
	}
	if f.r.IntN(4) == 0 {
		q.setQuery("team", pick(f.r, []string{"none", f.team(q.in)}))
	}
	if f.r.IntN(4) == 0 {
		q.setQuery("can", pick(f.r, []string{"edit", "delete", "view", "share", "assign"}))
	}
	f.pageQuery(q)
}

// pageQuery asks for a page: small ones, so that lists have next pages,
// and now and then one that follows a cursor an answer gave.
func (f *fuzzer) pageQuery(q *request) {
	if len(q.in.cursors) > 0 && f.r.IntN(3) == 0 {
		q.setQuery("cursor", pick(f.r, q.in.cursors))
	}
	q.setQuery("limit", strconv.Itoa(1+f.r.IntN(3)))
}

// ifMatch sends the record's version now and then: a right one, a stale
// one or any.
func (f *fuzzer) ifMatch(q *request) {
	switch f.r.IntN(4) {
	case 0:
		q.setHeader("If-Match", `"`+strconv.Itoa(1+f.r.IntN(3))+`"`)
	case 1:
		q.setHeader("If-Match", "*")
	}
}

// user is a user id of the install, mostly: now and then one of the other
// install, one that names nobody or none.
func (f *fuzzer) user(in *installState) string {
	switch n := f.r.IntN(20); {
	case n == 0:
		return pick(f.r, in.other.users)
	case n == 1:
		return randomID(f.r)
	case n == 2:
		return ""
	}
	return pick(f.r, in.users)
}

func (f *fuzzer) team(in *installState) string {
	switch f.r.IntN(12) {
	case 0:
		return pick(f.r, in.other.teams)
	case 1:
		return randomID(f.r)
	}
	return pick(f.r, in.teams)
}

func (f *fuzzer) role(in *installState) string {
	return pick(f.r, append([]string{"admin", "manager", "member", "nobody"}, in.roles...))
}

// record is a record of the install, mostly a live one: now and then a
// deleted one, one of the other install or an id that names nothing.
func (f *fuzzer) record(in *installState) (string, string) {
	typ := pick(f.r, recordTypes)
	switch n := f.r.IntN(20); {
	case n == 0 && len(in.gone) > 0:
		g := pick(f.r, in.gone)
		return g.typ, g.id
	case n == 1 && len(in.other.records[typ]) > 0:
		return typ, pick(f.r, in.other.records[typ])
	case n == 2:
		return typ, randomID(f.r)
	}
	if len(in.records[typ]) == 0 {
		return typ, randomID(f.r)
	}
	return typ, pick(f.r, in.records[typ])
}

// parent is a parent for a record of type typ: one of the right type
// mostly.
func (f *fuzzer) parent(in *installState, typ string) any {
	want := "account"
	switch typ {
	case "activity":
		want = pick(f.r, recordTypes)
	case "lead", "account":
		if f.r.IntN(2) == 0 {
			return nil
		}
	}
	if f.r.IntN(10) == 0 {
		want = pick(f.r, recordTypes)
	}
	ids := in.records[want]
	if len(ids) == 0 || f.r.IntN(15) == 0 {
		return map[string]any{"type": want, "id": randomID(f.r)}
	}
	return map[string]any{"type": want, "id": pick(f.r, ids)}
}

// newRecord is the body of a new record: its data now and then holds
// numbers that no Go type holds, valid JSON all the same.
func (f *fuzzer) newRecord(in *installState, typ string) map[string]any {
	body := map[string]any{"data": f.data(typ)}
	if f.r.IntN(2) == 0 {
		body["owner_id"] = f.user(in)
	}
	if f.r.IntN(4) == 0 {
		body["team_id"] = f.team(in)
	}
	if p := f.parent(in, typ); p != nil && (typ == "contact" || typ == "opportunity" || typ == "activity") && f.r.IntN(3) > 0 {
		body["parent"] = p
	}
	return body
}

// data is a record's data: a name and a few fields, numbers among them.
func (f *fuzzer) data(typ string) map[string]any {
	d := map[string]any{"name": fmt.Sprintf("fuzz %s %d", typ, f.r.IntN(100000))}
	if f.r.IntN(2) == 0 {
		d["email"] = fmt.Sprintf("x%d@example.test", f.r.IntN(1000))
	}
	if f.r.IntN(3) == 0 {
		d["due"] = time.Date(2027, time.Month(1+f.r.IntN(12)), 1+f.r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	switch f.r.IntN(4) {
	case 0:
		d["amount"] = number(pick(f.r, exoticNumbers))
	case 1:
		d["amount"] = number(pick(f.r, []string{"12.5", "0", "-3", "1000000", "1e3"}))
	}
	if f.r.IntN(6) == 0 {
		d["notes"] = pick(f.r, exoticStrings)
	}
	return d
}

// asker is the user a decision is asked for: the caller themself when a
// user asks (a user may ask only about themself), anyone when the
// service does.
func (f *fuzzer) asker(q *request) string {
	if q.who != asService || f.r.IntN(10) == 0 {
		if c := q.in.client(q.who); c.ID != "" && f.r.IntN(10) > 0 {
			return c.ID
		}
	}
	return f.user(q.in)
}

func (f *fuzzer) action() string {
	return pick(f.r, []string{"view", "edit", "delete", "assign", "share", "add", "View", "fly"})
}

// pluginID is a plugin of the host, or now and then an id of none.
func (f *fuzzer) pluginID() string {
	if f.r.IntN(10) == 0 {
		return pick(f.r, []string{"nope", "HELLO", "hello-world", "ab"})
	}
	return pick(f.r, f.plugins).id
}

func deadLetters() []segment {
	return []segment{lit("v1"), lit("admin"), lit("outbox"), lit("dead-letters")}
}

// deadLetterID is the id of a dead letter. A run that keeps its promise
// has none, so the id is one that names nothing, in the shape of an id
// or not.
func (f *fuzzer) deadLetterID() string {
	return pick(f.r, []string{"01M90VKHVS6X7PNY8DW698SCGV", "01J0000000000000000000000E", "nope", "0"})
}

// deadLetterFilter sets the install and plugin a list or a replay of dead
// letters is narrowed to, each half the time.
func (f *fuzzer) deadLetterFilter(q *request, set func(name, value string)) {
	if f.r.IntN(2) == 0 {
		set("install", pick(f.r, []string{q.in.slug, q.in.other.slug, "nope"}))
	}
	if f.r.IntN(2) == 0 {
		set("plugin", f.pluginID())
	}
}

// expiry is a delegation's expiry: mostly within the plugin's limits.
func (f *fuzzer) expiry() any {
	switch f.r.IntN(8) {
	case 0:
		return nil
	case 1:
		return time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	case 2:
		return time.Now().AddDate(5, 0, 0).UTC().Format(time.RFC3339)
	}
	return time.Now().Add(time.Duration(1+f.r.IntN(200)) * time.Hour).UTC().Format(time.RFC3339)
}

func joinIDs(ids []string) string { return strings.Join(ids, ",") }
