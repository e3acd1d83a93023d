package fuzz

import (
	"fmt"
	"strings"
)

// anyMethods are the methods Gin serves a plugin's routes on
// (RouterGroup.Any).
var anyMethods = []string{"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"}

// pluginRoute is a route of a plugin's own API, under
// /v1/plugins/{id}/api: pattern is its ServeMux pattern, path builds its
// segments after the prefix.
func pluginRoute(plugin, pattern string, build func(f *fuzzer, q *request) []segment, body func(f *fuzzer, q *request), learn func(f *fuzzer, q *request, rep reply)) *route {
	method, _, _ := strings.Cut(pattern, " ")
	rt := &route{
		name: method + " /v1/plugins/" + plugin + "/api" + strings.TrimPrefix(pattern, method+" "),
		api:  method + " /v1/plugins/:id/api/*path", plugin: plugin, pattern: pattern, auth: authUser, learn: learn,
	}
	rt.build = func(f *fuzzer, q *request) {
		q.method = method
		q.segs = append([]segment{lit("v1"), lit("plugins"), param(plugin), lit("api")}, build(f, q)...)
		if body != nil {
			body(f, q)
		}
	}
	return rt
}

// adminOnly marks a route of administrators.
func adminOnly(rt *route) *route {
	rt.admin = true
	return rt
}

func fixed(words ...string) func(*fuzzer, *request) []segment {
	return func(*fuzzer, *request) []segment {
		var out []segment
		for _, w := range words {
			out = append(out, lit(w))
		}
		return out
	}
}

// recordPath is records/{type}/{id} followed by words.
func recordPath(words ...string) func(*fuzzer, *request) []segment {
	return func(f *fuzzer, q *request) []segment {
		typ, id := f.record(q.in)
		out := []segment{lit("records"), param(typ), param(id)}
		for _, w := range words {
			out = append(out, lit(w))
		}
		return out
	}
}

// sharePath is the path of a share of strict-ownership the install made,
// or now and then of an id that is no share.
func sharePath(f *fuzzer, q *request) []segment {
	if len(q.in.shares) == 0 || f.r.IntN(6) == 0 {
		typ, id := f.record(q.in)
		return []segment{lit("records"), param(typ), param(id), lit("shares"), param(randomID(f.r))}
	}
	s := pick(f.r, q.in.shares)
	return []segment{lit("records"), param(s.typ), param(s.id), lit("shares"), param(s.share)}
}

// pluginRoutes are the routes of the shipped plugins' own APIs, and for
// each method Gin forwards to plugins, a path that no plugin serves.
func pluginRoutes() []*route {
	routes := []*route{
		pluginRoute("hello", "GET /rules", fixed("rules"), nil, nil),
		pluginRoute("hello", "GET /writes", fixed("writes"), nil, nil),
		pluginRoute("hello", "GET /visits", fixed("visits"), nil, nil),
		pluginRoute("hello", "POST /visits", fixed("visits"), nil, nil),

		pluginRoute("strict-ownership", "GET /records/{type}/{id}/shares", recordPath("shares"), nil, nil),
		pluginRoute("strict-ownership", "POST /records/{type}/{id}/shares", recordPath("shares"), func(f *fuzzer, q *request) {
			body := map[string]any{"access": pick(f.r, []string{"view", "view+edit", "edit", "owner"})}
			if f.r.IntN(3) == 0 {
				body["team_id"] = f.team(q.in)
			} else {
				body["user_id"] = f.user(q.in)
			}
			q.body = body
		}, func(f *fuzzer, q *request, rep reply) {
			if id := rep.str("id"); id != "" && rep.status == 201 {
				q.in.shares = append(q.in.shares, shareRef{decodedSegment(q.segs[5].text), decodedSegment(q.segs[6].text), id})
			}
		}),
		pluginRoute("strict-ownership", "PATCH /records/{type}/{id}/shares/{share}", sharePath, func(f *fuzzer, q *request) {
			q.body = map[string]any{"access": pick(f.r, []string{"view", "view+edit", "edit", ""})}
		}, nil),
		pluginRoute("strict-ownership", "DELETE /records/{type}/{id}/shares/{share}", sharePath, nil, nil),

		pluginRoute("teams", "GET /counts", fixed("counts"), func(f *fuzzer, q *request) {
			if f.r.IntN(2) == 0 {
				q.setQuery("type", pick(f.r, append(recordTypes, "task")))
			}
		}, nil),
		adminOnly(pluginRoute("teams", "POST /records/{type}/move", func(f *fuzzer, q *request) []segment {
			return []segment{lit("records"), param(pick(f.r, recordTypes)), lit("move")}
		}, func(f *fuzzer, q *request) {
			body := map[string]any{"to": pick(f.r, []string{"none", f.team(q.in), f.team(q.in)})}
			typ := decodedSegment(q.segs[5].text)
			if f.r.IntN(2) == 0 && len(q.in.records[typ]) > 0 {
				body["ids"] = []any{pick(f.r, q.in.records[typ])}
			} else {
				body["from"] = f.team(q.in)
			}
			q.body = body
		}, nil)),

		pluginRoute("delegation", "POST /records/{type}/{id}/delegations", recordPath("delegations"), func(f *fuzzer, q *request) {
			body := map[string]any{"user_id": f.user(q.in)}
			if e := f.expiry(); e != nil {
				body["expires_at"] = e
			}
			q.body = body
		}, learnDelegation),
		pluginRoute("delegation", "GET /records/{type}/{id}/delegations", recordPath("delegations"), func(f *fuzzer, q *request) {
			if f.r.IntN(2) == 0 {
				q.setQuery("state", pick(f.r, []string{"active", "expired", "all"}))
			}
		}, nil),
		pluginRoute("delegation", "PATCH /delegations/{id}", delegationPath, func(f *fuzzer, q *request) {
			q.body = map[string]any{"expires_at": f.expiry()}
		}, nil),
		pluginRoute("delegation", "DELETE /delegations/{id}", delegationPath, nil, nil),
		adminOnly(pluginRoute("delegation", "GET /delegations", fixed("delegations"), func(f *fuzzer, q *request) {
			if f.r.IntN(2) == 0 {
				q.setQuery("type", pick(f.r, recordTypes))
			}
			if f.r.IntN(3) == 0 {
				q.setQuery("user", f.user(q.in))
			}
			if f.r.IntN(3) == 0 {
				q.setQuery("state", pick(f.r, []string{"active", "expired", "all"}))
			}
			f.pageQuery(q)
		}, nil)),
		adminOnly(pluginRoute("delegation", "DELETE /delegations", fixed("delegations"), func(f *fuzzer, q *request) {
			if len(q.in.delegs) > 0 && f.r.IntN(3) > 0 {
				q.setQuery("ids", pick(f.r, q.in.delegs))
				return
			}
			q.setQuery("type", pick(f.r, recordTypes))
		}, nil)),
		pluginRoute("delegation", "POST /delegations:bulk", fixed("delegations:bulk"), func(f *fuzzer, q *request) {
			typ, _ := f.record(q.in)
			body := map[string]any{"user_id": f.user(q.in), "type": typ}
			if f.r.IntN(2) == 0 && len(q.in.records[typ]) > 0 {
				body["ids"] = []any{pick(f.r, q.in.records[typ])}
			} else {
				body["owner_id"] = f.user(q.in)
			}
			if e := f.expiry(); e != nil && f.r.IntN(2) == 0 {
				body["expires_at"] = e
			}
			q.body = body
		}, nil),
	}
	for _, m := range anyMethods {
		routes = append(routes, &route{
			name: m + " /v1/plugins/{id}/api/{unknown}", api: m + " /v1/plugins/:id/api/*path", auth: authUser,
			build: func(f *fuzzer, q *request) {
				q.method = m
				q.segs = []segment{lit("v1"), lit("plugins"), param(f.pluginID()), lit("api")}
				for range 1 + f.r.IntN(3) {
					q.segs = append(q.segs, param(pick(f.r, []string{"records", "lead", "x", "delegations", "shares", "rules", "counts", fmt.Sprint(f.r.IntN(99))})))
				}
				if m != "GET" && m != "HEAD" && f.r.IntN(2) == 0 {
					q.body = map[string]any{"x": 1}
				}
			},
		})
	}
	return routes
}

func delegationPath(f *fuzzer, q *request) []segment {
	id := randomID(f.r)
	if len(q.in.delegs) > 0 && f.r.IntN(6) > 0 {
		id = pick(f.r, q.in.delegs)
	}
	return []segment{lit("delegations"), param(id)}
}

func learnDelegation(f *fuzzer, q *request, rep reply) {
	if id := rep.str("id"); id != "" {
		q.in.delegs = append(q.in.delegs, id)
	}
}
