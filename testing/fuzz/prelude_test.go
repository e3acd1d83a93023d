package fuzz

import (
	"strings"
)

// prelude sends, before the random requests, the valid and invalid
// requests that a random stream reaches only now and then, so that every
// run makes them: records whose data holds numbers beyond float64 and
// int64, records whose parent has another owner (what a member sees of
// them), and every way of breaking every place of each plugin's settings
// schema. They go through the same checks as the others.
func (f *fuzzer) prelude() {
	for _, in := range []*installState{f.a, f.b} {
		f.exoticRecords(in)
		f.crossOwnerRecords(in)
	}
	for _, p := range f.plugins {
		f.sweepSettings(p)
	}
}

// route is the fuzzer's route of that name.
func (f *fuzzer) route(name string) *route {
	for _, rt := range f.routes {
		if rt.name == name {
			return rt
		}
	}
	f.t.Fatalf("no route %s", name)
	return nil
}

// exoticRecords creates, as the admin, a lead for each number JSON holds
// and Go's types do not, or hold only at their edges: valid data, which
// must be kept, and whose events must be delivered.
func (f *fuzzer) exoticRecords(in *installState) {
	for _, n := range []string{"1e400", "-1e400", strings.Repeat("9", 400), "1.7976931348623157e309", "1e-400", "-0", "0.1e1"} {
		f.exchange(&request{route: f.route("POST /v1/records/{type}"), in: in, who: asAdmin, method: "POST",
			segs: []segment{lit("v1"), lit("records"), param("lead")},
			body: map[string]any{"data": map[string]any{"name": "exotic " + n[:min(len(n), 8)], "amount": number(n)}}})
	}
}

// crossOwnerRecords creates, as the admin, children of one member whose
// parent is the other's, then reads them as each member: strict-ownership
// hides the other's records, and a record they see must not name a parent
// they may not see.
func (f *fuzzer) crossOwnerRecords(in *installState) {
	alice, bob := in.in.Records["alice"], in.in.Records["bob"]
	create := f.route("POST /v1/records/{type}")
	for _, c := range []struct{ typ, owner, ptype, parent string }{
		{"contact", in.in.Bob.ID, "account", alice["account"]},
		{"opportunity", in.in.Alice.ID, "account", bob["account"]},
		{"activity", in.in.Bob.ID, "contact", alice["contact"]},
		{"activity", in.in.Alice.ID, "lead", bob["lead"]},
	} {
		f.exchange(&request{route: create, in: in, who: asAdmin, method: "POST", segs: []segment{lit("v1"), lit("records"), param(c.typ)},
			body: map[string]any{"data": map[string]any{"name": "child of another's " + c.ptype}, "owner_id": c.owner,
				"parent": map[string]any{"type": c.ptype, "id": c.parent}}})
	}
	list := f.route("GET /v1/records/{type}")
	for _, who := range []caller{asAlice, asBob} {
		for _, typ := range []string{"contact", "opportunity", "activity"} {
			f.exchange(&request{route: list, in: in, who: who, method: "GET", segs: []segment{lit("v1"), lit("records"), param(typ)},
				query: [][2]string{{"limit", "50"}}})
		}
	}
}

// sweepSettings sends, as acme's admin, every bad value of every place of
// a plugin's settings schema, and an unknown key in each of its objects;
// then the settings it had.
func (f *fuzzer) sweepSettings(p pluginInfo) {
	rt := f.route("PUT /v1/plugins/{id}/settings")
	put := func(body any, must bool, what string) {
		f.exchange(&request{route: rt, in: f.a, who: asAdmin, method: "PUT",
			segs: []segment{lit("v1"), lit("plugins"), param(p.id), lit("settings")}, body: body, mustRefuse: must,
			mutations: []string{"settings: " + what}})
	}
	for _, l := range leaves(p.schema, p.schema, nil) {
		where := "/" + strings.Join(l.path, "/")
		if types(l.schema)["object"] {
			put(place(l.path, map[string]any{"fuzz_unknown_key": true}), l.schema["additionalProperties"] == false,
				where+": an unknown key")
			continue
		}
		for _, b := range badValues(l.schema) {
			put(place(l.path, b.v), b.must, where+": "+b.what)
		}
	}
	put(jsonValue(p.valid[len(p.valid)-1]), false, "the settings it had")
}
