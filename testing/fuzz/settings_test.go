package fuzz

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
)

// pluginInfo is a plugin as GET /v1/plugins shows it, with the settings
// documents the fuzzer sends it.
type pluginInfo struct {
	id     string
	schema map[string]any
	// valid are settings the plugin takes, as JSON: those it had when
	// the run started, its defaults ({}) and a few of the fuzzer's, where
	// $manager stands for the install's manager.
	valid []string
}

// validSettings are settings of each shipped plugin that hold, beside
// those it starts with.
var validSettings = map[string][]string{
	"hello": {`{"read_only_types":["account"]}`, `{"hidden_types":["opportunity"]}`, `{"required_fields":{"lead":["email"]}}`,
		`{"assign_to_creator":true}`},
	"strict-ownership": {`{"share_roles":["admin","manager","member"]}`, `{"creator_keeps_access":true,"roles":{"member":{"lead":{"view":"own","edit":"own","delete":"none"}}}}`,
		`{"assignment_rules":[{"type":"lead","match":[{"field":"email","op":"prefix","value":"x1"}],"assign_to":{"user":"$manager"}}]}`,
		`{"roles":{"member":{"opportunity":{"view":"role","edit":"role","delete":"own"}}},"children":{"activity":"view+edit","contact":"view"}}`},
	"teams":      {`{"unteamed_visible_to":"admins"}`, `{"cross_team_roles":["admin","manager"]}`, `{"assign_moves_team":true}`},
	"delegation": {`{"max_days":30,"default_days":{"lead":7}}`, `{"actions":["view","edit"]}`, `{"delegate_roles":["member"]}`, `{"expiry_field":"due","extension_days":3}`},
}

// settingsBody is the body of PUT /v1/plugins/{id}/settings: settings
// that hold (a third of the time), or settings made to break the plugin's
// schema at one place, which the host must refuse.
func (f *fuzzer) settingsBody(q *request, p pluginInfo) {
	var base any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(pick(f.r, p.valid), "$manager", q.in.in.Manager.ID)), &base); err != nil {
		panic(err)
	}
	if f.r.IntN(3) == 0 {
		q.body = base
		return
	}
	bad, mustRefuse, what := breakSchema(f.r, p.schema, p.schema, base, 0)
	q.body, q.mustRefuse = bad, mustRefuse
	q.mutations = append(q.mutations, "settings: "+what)
}

// breakSchema returns v changed at one place so that it no longer matches
// schema (root holds the $defs), whether the change is one that must be
// refused (a wrong type, a value out of an enum, an unknown key, a number
// out of range) rather than one that JSON Schema may take (1e400 is an
// integer to it), and what was changed.
func breakSchema(r *rand.Rand, root, schema map[string]any, v any, depth int) (any, bool, string) {
	schema = resolve(root, schema)
	obj, isObj := v.(map[string]any)
	if types(schema)["object"] && depth < 4 {
		if !isObj || obj == nil {
			obj = map[string]any{}
		}
		props, _ := schema["properties"].(map[string]any)
		names := sortedKeys(props)
		extra, _ := schema["additionalProperties"].(map[string]any)
		switch n := r.IntN(10); {
		case n == 0:
			obj["fuzz_unknown_key"] = true
			if schema["additionalProperties"] == false {
				return obj, true, "unknown key"
			}
			return obj, false, "unknown key"
		case n == 1 && schema["propertyNames"] != nil:
			obj["fuzz_"+pick(r, []string{"task", "LEAD", "", "lead "})] = anyValid(root, extra)
			return obj, true, "a name out of propertyNames"
		case n < 6 && len(names) > 0:
			name := pick(r, names)
			sub, _ := props[name].(map[string]any)
			bad, must, what := breakSchema(r, root, sub, obj[name], depth+1)
			obj[name] = bad
			return obj, must, name + ": " + what
		case extra != nil:
			name := pick(r, propertyNames(root, schema))
			bad, must, what := breakSchema(r, root, extra, obj[name], depth+1)
			obj[name] = bad
			return obj, must, name + ": " + what
		}
		return wrongType(r, schema)
	}
	if types(schema)["array"] && depth < 4 && r.IntN(2) == 0 {
		items, _ := schema["items"].(map[string]any)
		if items != nil {
			bad, must, what := breakSchema(r, root, items, nil, depth+1)
			return []any{bad}, must, "[0]: " + what
		}
	}
	return wrongType(r, schema)
}

// badValue is a value that breaks a leaf of a schema, whether the host
// must refuse it (rather than a value JSON Schema may take, as 1e400 is an
// integer to it), and what it is.
type badValue struct {
	v    any
	must bool
	what string
}

// badValues are the values that break a leaf of the schema: other JSON
// types, values out of its enum, numbers below its minimum, beyond
// int64, whole but written as decimals, or not whole.
func badValues(schema map[string]any) []badValue {
	ts := types(schema)
	if enum, ok := schema["enum"].([]any); ok {
		var out []badValue
		for _, v := range []any{"fuzz", "", 7, nil, []any{enum[0]}, strings.ToUpper(enum[0].(string))} {
			out = append(out, badValue{v, true, "out of the enum"})
		}
		return out
	}
	var out []badValue
	if ts["integer"] || ts["number"] {
		if min, ok := schema["minimum"].(float64); ok {
			for _, n := range []string{formatInt(min - 1), "-1e400", "-" + strings.Repeat("9", 400)} {
				out = append(out, badValue{number(n), true, "below the minimum"})
			}
		}
		// Whole numbers to JSON Schema, out of reach of Go's int.
		for _, n := range []string{"1e400", strings.Repeat("9", 400), "9223372036854775808"} {
			out = append(out, badValue{number(n), false, "a number beyond int64"})
		}
		// Whole numbers to JSON Schema, written as decimals.
		for _, n := range []string{"1.0", "30.0", "1e1", "7E0"} {
			out = append(out, badValue{number(n), false, "a whole number written as a decimal"})
		}
		for _, n := range []string{"1.5", "0.1", "1e-400"} {
			out = append(out, badValue{number(n), true, "not a whole number"})
		}
	}
	for _, v := range []any{"7", 7, 1.5, true, nil, []any{}, map[string]any{}, []any{"lead"}} {
		if !fits(ts, v) {
			out = append(out, badValue{v, len(ts) > 0, "a wrong type"})
		}
	}
	if len(out) == 0 {
		out = append(out, badValue{nil, false, "any"})
	}
	return out
}

// wrongType is one of badValues, its kinds equally likely.
func wrongType(r *rand.Rand, schema map[string]any) (any, bool, string) {
	bad := badValues(schema)
	var kinds []string
	for _, b := range bad {
		if !slices.Contains(kinds, b.what) {
			kinds = append(kinds, b.what)
		}
	}
	kind := pick(r, kinds)
	var of []badValue
	for _, b := range bad {
		if b.what == kind {
			of = append(of, b)
		}
	}
	b := pick(r, of)
	return b.v, b.must, b.what
}

// leaf is a place in a settings document where a schema holds a value
// that is not an object: the keys to it ("[]" for an array's item).
type leaf struct {
	path   []string
	schema map[string]any
}

// leaves are the places of a schema's documents, objects included (for
// an unknown key) and leaves, down to depth 4.
func leaves(root, schema map[string]any, path []string) []leaf {
	schema = resolve(root, schema)
	out := []leaf{{slices.Clone(path), schema}}
	if len(path) >= 4 {
		return out
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		for _, name := range sortedKeys(props) {
			sub, _ := props[name].(map[string]any)
			out = append(out, leaves(root, sub, append(path, name))...)
		}
	}
	if extra, ok := schema["additionalProperties"].(map[string]any); ok {
		out = append(out, leaves(root, extra, append(path, propertyNames(root, schema)[0]))...)
	}
	if items, ok := schema["items"].(map[string]any); ok {
		out = append(out, leaves(root, items, append(path, "[]"))...)
	}
	return out
}

// place builds the document that holds v at path, and nothing else.
func place(path []string, v any) any {
	if len(path) == 0 {
		return v
	}
	if path[0] == "[]" {
		return []any{place(path[1:], v)}
	}
	return map[string]any{path[0]: place(path[1:], v)}
}

func formatInt(f float64) string {
	b, _ := json.Marshal(int64(f))
	return string(b)
}

// fits reports whether v is of one of the JSON types named.
func fits(ts map[string]bool, v any) bool {
	if len(ts) == 0 {
		return true
	}
	switch v := v.(type) {
	case nil:
		return ts["null"]
	case bool:
		return ts["boolean"]
	case string:
		return ts["string"]
	case int:
		return ts["integer"] || ts["number"]
	case float64:
		return ts["number"] || (ts["integer"] && v == float64(int64(v)))
	case []any:
		return ts["array"]
	}
	return ts["object"]
}

func types(schema map[string]any) map[string]bool {
	out := map[string]bool{}
	switch t := schema["type"].(type) {
	case string:
		out[t] = true
	case []any:
		for _, x := range t {
			out[x.(string)] = true
		}
	}
	return out
}

// resolve follows a local $ref ("#/$defs/scope").
func resolve(root, schema map[string]any) map[string]any {
	ref, ok := schema["$ref"].(string)
	if !ok {
		return schema
	}
	var cur any = root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[part]
	}
	m, _ := cur.(map[string]any)
	return m
}

// propertyNames are the names an object with additionalProperties may
// have: its propertyNames enum, or any.
func propertyNames(root, schema map[string]any) []string {
	if pn, ok := schema["propertyNames"].(map[string]any); ok {
		if enum, ok := resolve(root, pn)["enum"].([]any); ok {
			var out []string
			for _, e := range enum {
				out = append(out, e.(string))
			}
			return out
		}
	}
	return []string{"member", "manager", "admin"}
}

// anyValid is a value of the schema's type, valid or near enough to let
// the name that holds it be the one thing at fault.
func anyValid(root, schema map[string]any) any {
	schema = resolve(root, schema)
	if enum, ok := schema["enum"].([]any); ok {
		return enum[0]
	}
	switch ts := types(schema); {
	case ts["object"]:
		return map[string]any{}
	case ts["array"]:
		return []any{}
	case ts["integer"], ts["number"]:
		return 1
	case ts["boolean"]:
		return true
	}
	return "x"
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// jsonValue is the value a JSON text holds.
func jsonValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic("fuzz: " + err.Error())
	}
	return v
}
