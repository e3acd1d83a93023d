package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SettingsPath names a value in a settings document the way every
// settings error does: keys joined by dots, list positions in brackets,
// and a key that is not plain letters, digits, "_" and "-" quoted, as in
//
//	roles.sales-rep.lead.view
//	assignment_rules[0].match[1].value
//	required_fields["e-mail address"]
//
// Elements are keys (strings, or types whose value is one, such as
// RecordType) and list positions (int). No elements is "settings", the
// document itself.
func SettingsPath(elems ...any) string {
	var b strings.Builder
	for _, e := range elems {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		default:
			key := fmt.Sprint(e)
			if plainKey.MatchString(key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(key)
			} else {
				b.WriteString("[" + literal(key) + "]")
			}
		}
	}
	if b.Len() == 0 {
		return "settings"
	}
	return b.String()
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// literal is a JSON value as JSON writes it, for quoting a setting's
// value in a message; control characters come out escaped.
func literal(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maxViolations bounds how many problems a message names: the first
// ones are enough to fix, and the message stays a sentence.
const maxViolations = 2

// joinProblems makes one message of sorted problems, the first few.
func joinProblems(problems []string) string {
	if len(problems) > maxViolations {
		problems = append(problems[:maxViolations:maxViolations], fmt.Sprintf("and %d more", len(problems)-maxViolations))
	}
	return strings.Join(problems, "; ")
}

// printer words the violations the wording below has no words of its
// own for, in English like the rest of the API.
var printer = message.NewPrinter(language.English)

// wording says schema violations in the product's words: the key path of
// each offending value and what it must be, read from the schema as
// written (root) and the document validated (instance). Without root it
// falls back on the validator's own words.
type wording struct {
	root, instance any
}

// violations describes the leaves of a validation error's tree, sorted
// so that the same input gets the same words.
func (w wording) violations(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		switch k := e.ErrorKind.(type) {
		case *kind.PropertyNames: // its causes are about the key, not a value
			out = append(out, w.leaf(e)...)
			return
		case *kind.AnyOf, *kind.OneOf:
			// "Must be this or that" says more than what each
			// alternative found wrong.
			if one, ok := k.(*kind.OneOf); ok && len(one.Subschemas) > 0 {
				break
			}
			if x := w.expect(w.node(e.SchemaURL), false); x != "" {
				out = append(out, w.at(e.InstanceLocation)+": must be "+x)
				return
			}
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, w.leaf(e)...)
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// leaf words one violation; a missing or unknown key may give several.
func (w wording) leaf(e *jsonschema.ValidationError) []string {
	at := w.path(e.InstanceLocation)
	node := w.node(e.SchemaURL)
	under := func(key string) string { return SettingsPath(append(at[:len(at):len(at)], key)...) }
	var out []string
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			out = append(out, under(m)+": must be given")
		}
	case *kind.Dependency:
		for _, m := range k.Missing {
			out = append(out, under(m)+": must be given with "+k.Prop)
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			out = append(out, under(m)+": must be given with "+k.Prop)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			out = append(out, under(p)+": "+w.unknownKey(node, len(at) == 0))
		}
	case *kind.PropertyNames:
		msg := under(k.Property) + ": unknown key"
		if x := w.expect(node, false); x != "" {
			msg += "; a key here must be " + x
		}
		out = append(out, msg)
	case *kind.FalseSchema:
		out = append(out, SettingsPath(at...)+": must not be given")
	case *kind.Type, *kind.Enum, *kind.Const, *kind.Minimum, *kind.Maximum, *kind.ExclusiveMinimum,
		*kind.ExclusiveMaximum, *kind.MultipleOf, *kind.MinLength, *kind.MaxLength, *kind.Pattern,
		*kind.Format, *kind.MinItems, *kind.MaxItems, *kind.UniqueItems, *kind.MinProperties, *kind.MaxProperties:
		if x := w.expect(node, false); x != "" {
			return append(out, SettingsPath(at...)+": must be "+x)
		}
		out = append(out, SettingsPath(at...)+": "+e.ErrorKind.LocalizedString(printer))
	default:
		out = append(out, SettingsPath(at...)+": "+e.ErrorKind.LocalizedString(printer))
	}
	return out
}

// unknownKey says that a key is not one of an object's, and which are.
func (w wording) unknownKey(node any, top bool) string {
	m, _ := w.resolve(node)
	props, _ := m["properties"].(map[string]any)
	keys := slices.Sorted(maps.Keys(props))
	switch {
	case top && len(keys) > 0:
		return "unknown setting; the settings are " + joinWords(keys, "and")
	case top:
		return "unknown setting"
	case len(keys) > 0:
		return "unknown key; the keys here are " + joinWords(keys, "and")
	}
	return "unknown key"
}

// at is the key path of a location, as text.
func (w wording) at(tokens []string) string { return SettingsPath(w.path(tokens)...) }

// path turns a location's tokens into SettingsPath's elements: a token
// is a list position where the document holds a list.
func (w wording) path(tokens []string) []any {
	elems := make([]any, 0, len(tokens))
	cur := w.instance
	for _, t := range tokens {
		switch v := cur.(type) {
		case []any:
			if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(v) {
				elems = append(elems, i)
				cur = v[i]
				continue
			}
		case map[string]any:
			cur = v[t]
		default:
			cur = nil
		}
		elems = append(elems, t)
	}
	return elems
}

// node is the part of the schema that a violation's schema location
// points to, nil when it is not in the schema as written.
func (w wording) node(location string) any {
	fragment, ok := strings.CutPrefix(location, schemaURL+"#")
	if !ok || w.root == nil {
		return nil
	}
	return pointerLookup(w.root, fragment)
}

// pointerLookup follows a URL fragment's JSON pointer into doc.
func pointerLookup(doc any, fragment string) any {
	if f, err := url.PathUnescape(fragment); err == nil {
		fragment = f
	}
	if fragment == "" {
		return doc
	}
	if !strings.HasPrefix(fragment, "/") {
		return nil // an anchor: not worth the words
	}
	cur := doc
	for _, t := range strings.Split(fragment[1:], "/") {
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			cur = v[t]
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// resolve is a schema node as an object, through local $refs when it
// says nothing of its own about the value.
func (w wording) resolve(node any) (map[string]any, bool) {
	for range 8 { // a chain of $refs, not a cycle
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		ref, isRef := m["$ref"].(string)
		_, typed := m["type"]
		_, enum := m["enum"]
		_, constant := m["const"]
		if !isRef || typed || enum || constant || !strings.HasPrefix(ref, "#") {
			return m, true
		}
		node = pointerLookup(w.root, ref[1:])
	}
	return nil, false
}

// expect says what a value must be by a schema node, as a noun phrase
// ("a whole number from 1 to 3650", or in the plural "whole numbers
// from 1 to 3650"); "" when the node says too little to put in words.
func (w wording) expect(node any, plural bool) string { return w.expectAt(node, plural, 0) }

// expectAt is expect for a node depth levels inside the value described:
// two levels down, the words stop at what the nested values are.
func (w wording) expectAt(node any, plural bool, depth int) string {
	m, ok := w.resolve(node)
	if !ok {
		return ""
	}
	if values, ok := m["enum"].([]any); ok && len(values) > 0 {
		lits := make([]string, len(values))
		for i, v := range values {
			lits[i] = literal(v)
		}
		return joinWords(lits, "or")
	}
	if v, ok := m["const"]; ok {
		return literal(v)
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		alts, ok := m[k].([]any)
		if !ok {
			continue
		}
		var parts []string
		for _, alt := range alts {
			x := w.expectAt(alt, plural, depth)
			if x == "" {
				return ""
			}
			parts = append(parts, x)
		}
		return joinWords(parts, "or")
	}
	var types []string
	switch t := m["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				types = append(types, s)
			}
		}
	}
	var parts []string
	for _, t := range types {
		if p := w.typePhrase(m, t, plural, depth); p != "" {
			parts = append(parts, p)
		}
	}
	return joinWords(parts, "or")
}

// typePhrase words one type of a schema node with its bounds.
func (w wording) typePhrase(m map[string]any, typ string, plural bool, depth int) string {
	switch typ {
	case "integer":
		return noun("whole number", "whole numbers", plural) + numberBounds(m, plural)
	case "number":
		return noun("number", "numbers", plural) + numberBounds(m, plural)
	case "string":
		return stringPhrase(m, plural)
	case "boolean":
		return "true or false"
	case "null":
		return "null"
	case "array":
		p := noun("list", "lists", plural)
		if depth > 1 {
			return p
		}
		if x := w.expectAt(m["items"], true, depth+1); x != "" {
			p += " of " + x
		}
		p += countBounds(m, "minItems", "maxItems", "item", "items")
		if u, _ := m["uniqueItems"].(bool); u {
			p += ", without repeats"
		}
		return p
	case "object":
		p := noun("object", "objects", plural)
		if names, ok := m["propertyNames"].(map[string]any); ok {
			if x := w.expectAt(names, false, depth+1); x != "" {
				p += " keyed by " + x + ","
			}
		}
		if depth > 1 {
			return strings.TrimSuffix(p, ",")
		}
		if values, ok := m["additionalProperties"].(map[string]any); ok {
			if x := w.expectAt(values, true, depth+1); x != "" {
				p += " whose values are " + x
			}
		} else if props, ok := m["properties"].(map[string]any); ok && len(props) > 0 {
			keys := slices.Sorted(maps.Keys(props))
			if count(m, "minProperties") == 1 && count(m, "maxProperties") == 1 {
				return strings.TrimSuffix(p, ",") + " with exactly one key, " + joinWords(keys, "or")
			}
			p += " with keys among " + joinWords(keys, "and")
		}
		return strings.TrimSuffix(p, ",") + countBounds(m, "minProperties", "maxProperties", "key", "keys")
	}
	return ""
}

// noun is a noun with its article, or in the plural.
func noun(one, many string, plural bool) string {
	switch {
	case plural:
		return many
	case strings.ContainsRune("aeiou", rune(one[0])):
		return "an " + one
	}
	return "a " + one
}

// numberBounds words minimum, maximum and their exclusive forms.
func numberBounds(m map[string]any, plural bool) string {
	lo, hasLo := numberIn(m, "minimum")
	hi, hasHi := numberIn(m, "maximum")
	if hasLo && hasHi {
		return " from " + lo + " to " + hi + multiple(m, plural)
	}
	var parts []string
	switch xlo, ok := numberIn(m, "exclusiveMinimum"); {
	case hasLo:
		parts = append(parts, "of at least "+lo)
	case ok:
		parts = append(parts, "greater than "+xlo)
	}
	switch xhi, ok := numberIn(m, "exclusiveMaximum"); {
	case hasHi:
		parts = append(parts, "of at most "+hi)
	case ok:
		parts = append(parts, "less than "+xhi)
	}
	if len(parts) == 0 {
		return multiple(m, plural)
	}
	return " " + strings.Join(parts, " and ") + multiple(m, plural)
}

func multiple(m map[string]any, plural bool) string {
	n, ok := numberIn(m, "multipleOf")
	switch {
	case !ok:
		return ""
	case plural:
		return ", multiples of " + n
	}
	return ", a multiple of " + n
}

// numberIn is a schema keyword's number as written.
func numberIn(m map[string]any, key string) (string, bool) {
	switch n := m[key].(type) {
	case json.Number:
		return n.String(), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	}
	return "", false
}

// count is a schema keyword's count, -1 when it has none.
func count(m map[string]any, key string) int {
	n, ok := numberIn(m, key)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}

// countBounds words a minimum and a maximum count of things.
func countBounds(m map[string]any, minKey, maxKey, one, many string) string {
	lo, hi := count(m, minKey), count(m, maxKey)
	unit := func(n int) string {
		if n == 1 {
			return one
		}
		return many
	}
	switch {
	case lo > 0 && hi >= 0 && lo == hi:
		return fmt.Sprintf(" with exactly %d %s", lo, unit(lo))
	case lo > 0 && hi >= 0:
		return fmt.Sprintf(" with %d to %d %s", lo, hi, many)
	case lo > 0:
		return fmt.Sprintf(" with at least %d %s", lo, unit(lo))
	case hi >= 0:
		return fmt.Sprintf(" with at most %d %s", hi, unit(hi))
	}
	return ""
}

// stringPhrase words a string's type with its lengths, pattern and
// format.
func stringPhrase(m map[string]any, plural bool) string {
	lo, hi := count(m, "minLength"), count(m, "maxLength")
	var p string
	switch {
	case lo == 1 && hi < 0:
		p = noun("non-empty string", "non-empty strings", plural)
	case lo > 0 && hi >= 0:
		p = noun("string", "strings", plural) + fmt.Sprintf(" of %d to %d characters", lo, hi)
	case lo > 0:
		p = noun("string", "strings", plural) + fmt.Sprintf(" of at least %d characters", lo)
	case hi >= 0:
		p = noun("string", "strings", plural) + fmt.Sprintf(" of at most %d characters", hi)
	default:
		p = noun("string", "strings", plural)
	}
	if pattern, ok := m["pattern"].(string); ok {
		p += " matching " + pattern
	}
	if format, ok := m["format"].(string); ok {
		p += " in the " + format + " format"
	}
	return p
}

// joinWords joins words as English does: "a", "a or b", "a, b or c".
func joinWords(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}
