package fuzz

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// MaxBodyBytes is the API's limit on request bodies (api.MaxBodyBytes).
const maxBodyBytes = 1 << 20

// mutate breaks a valid request in one way, now and then two or three.
// A request so changed is no longer one that must be refused: its method,
// path or body may have become another's.
func (f *fuzzer) mutate(q *request) {
	q.mustRefuse = false
	for range pick(f.r, []int{1, 1, 1, 1, 1, 1, 1, 2, 2, 3}) {
		var kinds []func(*request) string
		if slices.ContainsFunc(q.segs, func(s segment) bool { return s.param }) {
			kinds = append(kinds, f.breakSegment, f.breakSegment, f.breakSegment)
		}
		kinds = append(kinds, f.breakAnySegment, f.breakQuery, f.breakHeader, f.breakMethod)
		if q.route.lists {
			kinds = append(kinds, f.breakCursor, f.breakCursor)
		}
		if q.route.ifMatch {
			kinds = append(kinds, f.breakIfMatch, f.breakIfMatch)
		}
		if q.body != nil && q.raw == nil {
			kinds = append(kinds, f.breakValue, f.breakValue, f.breakValue, f.breakSyntax)
		}
		if q.method != "GET" && q.method != "HEAD" {
			kinds = append(kinds, f.oversize)
		}
		if what := pick(f.r, kinds)(q); what != "" {
			q.mutations = append(q.mutations, what)
		}
	}
}

// breakSegment replaces a value of the path (an id, a type, a name) by an
// exotic one or a tweak of itself.
func (f *fuzzer) breakSegment(q *request) string {
	var at []int
	for i, s := range q.segs {
		if s.param {
			at = append(at, i)
		}
	}
	i := pick(f.r, at)
	was := q.segs[i].text
	switch f.r.IntN(3) {
	case 0:
		q.segs[i].text = pick(f.r, segmentTweaks)(was)
	default:
		q.segs[i].text = pick(f.r, exoticSegments)
	}
	return fmt.Sprintf("segment %d: %q", i, clip(q.segs[i].text, 40))
}

// breakAnySegment changes the shape of the path: a fixed word replaced,
// a segment added, removed or emptied.
func (f *fuzzer) breakAnySegment(q *request) string {
	if len(q.segs) == 0 {
		q.segs = []segment{lit(pick(f.r, exoticSegments))}
		return "path: a segment"
	}
	i := f.r.IntN(len(q.segs))
	switch f.r.IntN(5) {
	case 0:
		q.segs[i].text = pick(f.r, exoticSegments)
		return fmt.Sprintf("word %d: %q", i, clip(q.segs[i].text, 40))
	case 1:
		q.segs = append(q.segs, lit(pick(f.r, exoticSegments)))
		return "path: a segment added"
	case 2:
		q.segs = q.segs[:len(q.segs)-1]
		return "path: its last segment removed"
	case 3:
		q.segs = append(q.segs, lit(""))
		return "path: a trailing slash"
	}
	q.segs = slices.Insert(q.segs, i, lit(""))
	return "path: an empty segment"
}

// breakQuery sets a parameter, the route's or an unknown one, to an
// exotic value.
func (f *fuzzer) breakQuery(q *request) string {
	names := []string{"limit", "cursor", "q", "owner", "team", "can", "type", "state", "user", "ids", "explain", "fuzz"}
	for _, kv := range q.query {
		names = append(names, kv[0], kv[0])
	}
	name := pick(f.r, names)
	v := pick(f.r, exoticQuery)
	if f.r.IntN(5) == 0 {
		q.query = append(q.query, [2]string{name, v}) // twice
	} else {
		q.setQuery(name, v)
	}
	return fmt.Sprintf("?%s=%s", name, clip(v, 40))
}

// breakCursor sends a cursor an answer gave, tampered with, or one of the
// other install's.
func (f *fuzzer) breakCursor(q *request) string {
	var c string
	switch {
	case len(q.in.other.cursors) > 0 && f.r.IntN(5) == 0:
		c = pick(f.r, q.in.other.cursors)
		q.setQuery("cursor", c)
		return "the other install's cursor"
	case len(q.in.cursors) > 0:
		c = pick(f.r, q.in.cursors)
	}
	q.setQuery("cursor", tamperCursor(f.r, c))
	return "a tampered cursor"
}

func (f *fuzzer) breakIfMatch(q *request) string {
	v := pick(f.r, badIfMatch)
	q.setHeader("If-Match", v)
	return fmt.Sprintf("If-Match: %q", clip(v, 40))
}

// breakHeader sends a strange Content-Type, Accept or request id.
func (f *fuzzer) breakHeader(q *request) string {
	switch f.r.IntN(3) {
	case 0:
		v := pick(f.r, badContentTypes)
		q.setHeader("Content-Type", v)
		return "Content-Type: " + v
	case 1:
		q.setHeader("Accept", pick(f.r, []string{"text/html", "application/xml", "*/*;q=0", "\xff"}))
		return "Accept"
	}
	q.setHeader("X-Request-ID", pick(f.r, []string{"", "a b", strings.Repeat("r", 65), "id\xff", "../x", "<x>"}))
	return "X-Request-ID"
}

// breakMethod sends the request with another method.
func (f *fuzzer) breakMethod(q *request) string {
	m := pick(f.r, []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
	q.method = m
	return "method " + m
}

// breakValue replaces one value of the body, anywhere in it, by an exotic
// one, or takes a key away, or adds one.
func (f *fuzzer) breakValue(q *request) string {
	var paths [][]any
	walk(q.body, nil, func(p []any) { paths = append(paths, slices.Clone(p)) })
	p := pick(f.r, paths)
	switch n := f.r.IntN(10); {
	case n == 0 && len(p) > 0:
		if m, ok := at(q.body, p[:len(p)-1]).(map[string]any); ok {
			delete(m, fmt.Sprint(p[len(p)-1]))
			return fmt.Sprintf("body %v: removed", p)
		}
	case n == 1:
		if m, ok := at(q.body, p).(map[string]any); ok {
			m[pick(f.r, []string{"fuzz", "", "id", "version", "install_id", "Data", "data\u0000"})] = exoticValue(f.r)
			return fmt.Sprintf("body %v: a key added", p)
		}
	}
	v := exoticValue(f.r)
	q.body = set(q.body, p, v)
	return fmt.Sprintf("body %v = %s", p, clip(describeValue(v), 60))
}

func describeValue(v any) string {
	if r, ok := v.(rawFragment); ok {
		return fmt.Sprintf("raw %q", badJSON[r])
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// breakSyntax sends the body's JSON cut, with garbage, or as another
// value.
func (f *fuzzer) breakSyntax(q *request) string {
	b := q.encoded()
	switch f.r.IntN(9) {
	case 0:
		q.raw = b[:f.r.IntN(len(b))]
		if len(q.raw) == 0 {
			q.raw = []byte{}
		}
		return "body cut"
	case 1:
		q.raw = append(b, pick(f.r, []string{"{}", " x", ",", "\x00", "]"})...)
		return "body with trailing bytes"
	case 2:
		q.raw = append([]byte("\xef\xbb\xbf"), b...)
		return "body after a BOM"
	case 3:
		q.raw = []byte(pick(f.r, []string{"null", "[]", `"x"`, "1e400", "true", "{}", " ", "\x00"}))
		return "body " + string(q.raw)
	case 4:
		q.raw = []byte(strings.Replace(string(b), ":", ":"+strings.Repeat("[", 20000), 1))
		return "body nested 20000 deep"
	case 5:
		q.raw = []byte(strings.Replace(string(b), `"`, `'`, -1))
		return "body in single quotes"
	case 6:
		q.raw = b
		if i := strings.Index(string(b), `":`); len(b) > 2 && b[0] == '{' && i > 0 {
			q.raw = []byte("{" + string(b[1:i+2]) + "1," + string(b[1:]))
		}
		return "body with a key twice"
	case 7:
		q.raw = []byte(strings.ReplaceAll(string(b), "a", "\xff"))
		return "body with invalid UTF-8"
	}
	q.raw = []byte(string(b) + string(b))
	return "two bodies"
}

// oversize sends a valid body of more than the API takes.
func (f *fuzzer) oversize(q *request) string {
	q.raw = []byte(`{"data":{"name":"` + strings.Repeat("x", maxBodyBytes+f.r.IntN(4096)) + `"}}`)
	return "body over 1 MiB"
}

// walk calls fn with the path of every value of v, v's own (nil) first.
func walk(v any, p []any, fn func([]any)) {
	fn(p)
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			walk(v[k], append(p, k), fn)
		}
	case []any:
		for i, x := range v {
			walk(x, append(p, i), fn)
		}
	}
}

func at(v any, p []any) any {
	for _, k := range p {
		switch c := v.(type) {
		case map[string]any:
			v = c[k.(string)]
		case []any:
			v = c[k.(int)]
		default:
			return nil
		}
	}
	return v
}

// set returns v with the value at p replaced.
func set(v any, p []any, x any) any {
	if len(p) == 0 {
		return x
	}
	switch c := v.(type) {
	case map[string]any:
		k := p[0].(string)
		c[k] = set(c[k], p[1:], x)
	case []any:
		i := p[0].(int)
		c[i] = set(c[i], p[1:], x)
	}
	return v
}
