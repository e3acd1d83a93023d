package sdk

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestSettingsPath(t *testing.T) {
	for _, tc := range []struct {
		elems []any
		want  string
	}{
		{nil, "settings"},
		{[]any{"max_days"}, "max_days"},
		{[]any{"roles", "sales-rep", TypeLead, "view"}, "roles.sales-rep.lead.view"},
		{[]any{"assignment_rules", 0, "match", 1, "value"}, "assignment_rules[0].match[1].value"},
		{[]any{"required_fields", "e-mail address"}, `required_fields["e-mail address"]`},
		{[]any{"a.b"}, `["a.b"]`},
		{[]any{"x", "\x00<&>"}, `x["\u0000<&>"]`},
		{[]any{"list", 3, 4}, "list[3][4]"},
	} {
		if got := SettingsPath(tc.elems...); got != tc.want {
			t.Errorf("SettingsPath(%q) = %s, want %s", tc.elems, got, tc.want)
		}
	}
}

// wordsSchema uses every keyword the wording knows.
const wordsSchema = `{
  "type": "object",
  "properties": {
    "days": {"type": "object", "propertyNames": {"enum": ["lead", "contact"]},
      "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 3650}},
    "max_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "step": {"type": "integer", "multipleOf": 5},
    "actions": {"type": "array", "items": {"enum": ["view", "edit"]}, "minItems": 1, "uniqueItems": true},
    "roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 3},
    "code": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
    "mode": {"$ref": "#/$defs/mode"},
    "either": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
    "flag": {"type": "boolean"},
    "rules": {"type": "array", "items": {
      "type": "object",
      "properties": {"type": {"enum": ["lead"]}, "assign_to": {"type": "object",
        "properties": {"user": {"type": "string"}, "team": {"type": "string"}},
        "minProperties": 1, "maxProperties": 1, "additionalProperties": false}},
      "required": ["type"], "additionalProperties": false}},
    "anything": {}
  },
  "additionalProperties": false,
  "$defs": {"mode": {"enum": ["strict", "lax"]}}
}`

// goWords are what a settings message must never say: the plugin's Go
// types are no business of the admin who sent the settings.
var goWords = []string{"Go struct", "Go value", "json:", "unmarshal", "int64", "float64", "map[", "[]", "interface", "'"}

// TestSettingsMessages: every refusal names the key path and what the
// value must be, in the product's words; huge and exotic numbers,
// control characters and wrong shapes included.
func TestSettingsMessages(t *testing.T) {
	schema := MustCompileSettingsSchema(json.RawMessage(wordsSchema))
	for _, tc := range []struct {
		name, settings, want string
	}{
		{"Valid", `{"days":{"lead":3},"max_days":90,"ratio":0.5,"actions":["view"],"code":"abc","mode":"lax","either":"x",` +
			`"rules":[{"type":"lead","assign_to":{"user":"u"}}],"anything":{"nested":[1,"\ttab\nline"]}}`, ""},
		{"WholeNumberWrittenWithAFraction", `{"max_days":90.0,"step":1e1}`, ""},
		{"NegativeZeroIsZero", `{"step":-0}`, ""},
		{"NotAnObject", `[{"max_days":1}]`, "settings: must be a JSON object"},
		{"Null", `null`, "settings: must be a JSON object"},
		{"NotJSON", `{"max_days":}`, "settings: must be a JSON object"},
		{"Huge", `{"max_days":1e400}`, "max_days: must be a whole number from 1 to 3650"},
		{"HugeInteger", `{"max_days":99999999999999999999}`, "max_days: must be a whole number from 1 to 3650"},
		{"HugeExponent", `{"max_days":1e1000000000}`, "max_days: must be a whole number from 1 to 3650"},
		{"NegativeHuge", `{"max_days":-1e400}`, "max_days: must be a whole number from 1 to 3650"},
		{"NegativeZero", `{"max_days":-0}`, "max_days: must be a whole number from 1 to 3650"},
		{"Fraction", `{"max_days":1.5}`, "max_days: must be a whole number from 1 to 3650"},
		{"Tiny", `{"max_days":1e-400}`, "max_days: must be a whole number from 1 to 3650"},
		{"String", `{"max_days":"90"}`, "max_days: must be a whole number from 1 to 3650"},
		{"Object", `{"max_days":{"days":90}}`, "max_days: must be a whole number from 1 to 3650"},
		{"NullValue", `{"max_days":null}`, "max_days: must be a whole number from 1 to 3650"},
		{"ExclusiveMinimum", `{"ratio":0}`, "ratio: must be a number greater than 0 and of at most 1"},
		{"MultipleOf", `{"step":7}`, "step: must be a whole number, a multiple of 5"},
		{"MapValue", `{"days":{"lead":0}}`, "days.lead: must be a whole number from 1 to 3650"},
		{"MapKey", `{"days":{"lemon":1}}`, `days.lemon: unknown key; a key here must be "lead" or "contact"`},
		{"MapWrongShape", `{"days":[["lead",1]]}`,
			`days: must be an object keyed by "lead" or "contact", whose values are whole numbers from 1 to 3650`},
		{"EnumInList", `{"actions":["view","delete"]}`, `actions[1]: must be "view" or "edit"`},
		{"EmptyList", `{"actions":[]}`, `actions: must be a list of "view" or "edit" with at least 1 item, without repeats`},
		{"Repeats", `{"actions":["view","view"]}`, `actions: must be a list of "view" or "edit" with at least 1 item, without repeats`},
		{"ListNested", `{"actions":[["view"]]}`, `actions[0]: must be "view" or "edit"`},
		{"EmptyString", `{"roles":[""]}`, "roles[0]: must be a non-empty string"},
		{"TooMany", `{"roles":["a","b","c","d"]}`, "roles: must be a list of non-empty strings with at most 3 items"},
		{"Pattern", `{"code":"ABC"}`, "code: must be a string of at most 8 characters matching ^[a-z]+$"},
		{"Ref", `{"mode":"loose"}`, `mode: must be "strict" or "lax"`},
		{"AnyOf", `{"either":-1}`, "either: must be a string or a whole number of at least 0"},
		{"Boolean", `{"flag":"yes"}`, "flag: must be true or false"},
		{"Required", `{"rules":[{"assign_to":{"user":"u"}}]}`, "rules[0].type: must be given"},
		{"TwoKeys", `{"rules":[{"type":"lead","assign_to":{"user":"u","team":"t"}}]}`,
			"rules[0].assign_to: must be an object with exactly one key, team or user"},
		{"UnknownNestedKey", `{"rules":[{"type":"lead","when":1}]}`, "rules[0].when: unknown key; the keys here are assign_to and type"},
		{"UnknownSetting", `{"max_day":1}`, "max_day: unknown setting; the settings are actions, anything, code, days, either, flag, max_days, " +
			"mode, ratio, roles, rules and step"},
		{"UnknownOddSetting", `{"max days\u0000":1}`, `["max days\u0000"]: unknown setting; the settings are actions, anything, code, ` +
			"days, either, flag, max_days, mode, ratio, roles, rules and step"},
		{"ControlCharacter", `{"roles":["ad\u0000min"]}`, "roles[0]: must be text without control characters"},
		{"Escape", `{"anything":{"a":"\u001b[31mred"}}`, "anything.a: must be text without control characters"},
		{"C1Control", `{"anything":"\u009b31m"}`, "anything: must be text without control characters"},
		{"ControlInKey", `{"anything":{"k\u0007":1}}`, `anything["k\u0007"]: the key must be text without control characters`},
		{"HugeUntyped", `{"anything":[1,1e400]}`, "anything[1]: must be a number from -1.7e308 to 1.7e308"},
		{"HugeUntypedExponent", `{"anything":-1e999999999999}`, "anything: must be a number from -1.7e308 to 1.7e308"},
		{"BeyondDouble", `{"anything":1.8e308}`, "anything: must be a number from -1.7e308 to 1.7e308"},
		{"AtTheBound", `{"anything":-1.7e308}`, ""},
		{"TinyUntyped", `{"anything":1e-400}`, "anything: must be 0 or a number of at least 1e-308 in size"},
		{"ManyDigits", `{"anything":0.` + strings.Repeat("0", 400) + `}`, ""},
		{"FirstTwoOnly", `{"max_days":0,"flag":1,"code":1}`,
			"code: must be a string of at most 8 characters matching ^[a-z]+$; flag: must be true or false; and 1 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := schema.Validate(json.RawMessage(tc.settings)); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			for _, w := range goWords {
				if strings.Contains(got, w) {
					t.Fatalf("%q speaks Go (%q)", got, w)
				}
			}
		})
	}
}

// TestSettingsDecode: Decode refuses what Validate refuses, with the same
// words, and fits whole numbers however written into whole-number
// fields.
func TestSettingsDecode(t *testing.T) {
	type settings struct {
		MaxDays int            `json:"max_days"`
		Step    int8           `json:"step"`
		Days    map[string]int `json:"days"`
		Roles   []string       `json:"roles"`
	}
	schema := MustCompileSettingsSchema(json.RawMessage(wordsSchema))
	var s settings
	if err := schema.Decode(json.RawMessage(`{"max_days":9e1,"step":1.0e1,"days":{"lead":1.0}}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.MaxDays != 90 || s.Step != 10 || s.Days["lead"] != 1 {
		t.Fatalf("decoded %+v", s)
	}
	if err := schema.Decode(json.RawMessage(`{"max_days":1e400}`), &s); err == nil || err.Error() != "max_days: must be a whole number from 1 to 3650" {
		t.Fatalf("huge number: %v", err)
	}

	// Without a schema that says so, the words come from the types.
	loose, err := CompileSettingsSchema(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, settings, want string
	}{
		{"Huge", `{"max_days":1e300}`, "max_days: must be a whole number from -9223372036854775808 to 9223372036854775807"},
		{"Small", `{"step":200}`, "step: must be a whole number from -128 to 127"},
		{"Fraction", `{"step":1.5}`, "step: must be a whole number from -128 to 127"},
		{"MapValue", `{"days":{"lead":1,"contact":"x"}}`, "days.contact: must be a whole number from -9223372036854775808 to 9223372036854775807"},
		{"ListItem", `{"roles":["a",{"b":[1]}]}`, "roles[1]: must be a string"},
		{"WrongShape", `{"days":[1]}`, "days: must be an object"},
		{"NestedWrongShape", `{"roles":"admin"}`, "roles: must be a list"},
		{"Unknown", `{"max_days":1,"colour":"red"}`, "colour: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s settings
			err := loose.Decode(json.RawMessage(tc.settings), &s)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestMagnitude(t *testing.T) {
	for _, tc := range []struct {
		lit  string
		e    int
		zero bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {"0.000e999999999999999", 0, true},
		{"1", 0, false}, {"123", 2, false}, {"-123.4", 2, false}, {"0.00123", -3, false},
		{"1e400", 400, false}, {"12.5E-3", -2, false}, {"0.5e+2", 1, false},
		{"1e99999999999999999999", 1 << 40, false}, {"1e-99999999999999999999", -(1 << 40), false},
	} {
		if e, zero := magnitude(tc.lit); e != tc.e || zero != tc.zero {
			t.Errorf("magnitude(%s) = %d, %v; want %d, %v", tc.lit, e, zero, tc.e, tc.zero)
		}
	}
}

// BenchmarkValidateHugeNumbers measures a settings body of the largest
// size the host reads (1 MiB) full of numbers the validator would
// otherwise build exactly (10^1000000 takes 20 ms), beside one full of
// ordinary numbers that the schema refuses as well.
func BenchmarkValidateHugeNumbers(b *testing.B) {
	schema := MustCompileSettingsSchema(json.RawMessage(`{"type":"object","additionalProperties":{"type":"integer","maximum":10}}`))
	for _, number := range []string{"1e1000000", "11"} {
		var body strings.Builder
		body.WriteString(`{`)
		for i := 0; body.Len() < 1<<20-40; i++ {
			if i > 0 {
				body.WriteByte(',')
			}
			body.WriteString(`"k` + strconv.Itoa(i) + `":` + number)
		}
		body.WriteString(`}`)
		raw := json.RawMessage(body.String())
		b.Run(number, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := schema.Validate(raw); err == nil {
					b.Fatal("numbers over the maximum accepted")
				}
			}
		})
	}
}

// TestDecodeValidatesADocumentOnce: hooks decode an install's settings on
// every call; a document that passed is not validated again, one that
// failed always is.
func TestDecodeValidatesADocumentOnce(t *testing.T) {
	schema := MustCompileSettingsSchema(json.RawMessage(wordsSchema))
	var s struct {
		MaxDays int `json:"max_days"`
	}
	for range 3 {
		if err := schema.Decode(json.RawMessage(`{"max_days":30}`), &s); err != nil || s.MaxDays != 30 {
			t.Fatalf("%+v, %v", s, err)
		}
		if err := schema.Decode(json.RawMessage(`{"max_days":0}`), &s); err == nil {
			t.Fatal("an invalid document passed")
		}
	}
	if n := schema.nValid.Load(); n != 1 {
		t.Fatalf("%d documents remembered as valid, want 1", n)
	}
}
