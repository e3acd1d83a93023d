package sdk

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SettingsSchema is a manifest's settings schema, compiled: what a host
// checks every install's settings against before the plugin's own
// SettingsValidator sees them, and what the plugin decodes them with
// (Decode). It is safe for concurrent use.
type SettingsSchema struct {
	schema *jsonschema.Schema
	// doc is the schema as written, for saying in words what a value
	// must be.
	doc any
	// valid holds the digests of documents that passed Validate, for
	// Decode: hooks decode an install's settings on every call, and they
	// seldom change. Cleared when it holds maxRemembered.
	valid  sync.Map // [sha256.Size]byte → struct{}
	nValid atomic.Int64
}

// maxRemembered bounds the settings documents a schema remembers as
// valid: a few per install that uses the plugin.
const maxRemembered = 4096

// anyObject is the schema of a manifest that gives none.
var anyObject = json.RawMessage(`{"type":"object"}`)

// schemaURL names the schema being compiled; it is never fetched.
const schemaURL = "urn:crmguard:settings-schema"

// CompileSettingsSchema compiles a JSON Schema of settings: draft 2020-12
// unless its $schema names another draft; empty means any JSON object.
// The schema must be whole: a $ref outside it is an error, never a
// download or a file read, since a plugin's manifest must not make the
// host reach anywhere.
func CompileSettingsSchema(raw json.RawMessage) (*SettingsSchema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = anyObject
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, schemaError(err, doc)
	}
	return &SettingsSchema{schema: s, doc: doc}, nil
}

// MustCompileSettingsSchema is CompileSettingsSchema for a plugin's own
// schema, a constant of its source: it panics if the schema does not
// compile, which its first test shows.
func MustCompileSettingsSchema(raw json.RawMessage) *SettingsSchema {
	s, err := CompileSettingsSchema(raw)
	if err != nil {
		panic("sdk: settings schema: " + err.Error())
	}
	return s
}

// noLoader refuses every document the compiler would load from elsewhere
// (the drafts' own metaschemas are built in and need none).
type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errors.ErrUnsupported }

// validated is Validate, remembering the documents that pass.
func (s *SettingsSchema) validated(settings json.RawMessage) error {
	sum := sha256.Sum256(settings)
	if _, ok := s.valid.Load(sum); ok {
		return nil
	}
	if err := s.Validate(settings); err != nil {
		return err
	}
	if s.nValid.Add(1) > maxRemembered {
		s.valid.Clear()
		s.nValid.Store(1)
	}
	s.valid.Store(sum, struct{}{})
	return nil
}

// errNotObject is the refusal of settings that are not a JSON object.
var errNotObject = errors.New("settings: must be a JSON object")

// Validate reports why settings are not a JSON object that matches the
// schema: the first violations, each as the key path of the offending
// value (SettingsPath) and what it must be, e.g.
//
//	hidden_types[0]: must be "lead" or "contact"
//
// Beyond the schema, every settings document holds only numbers from
// -1.7e308 to 1.7e308, and none nearer to 0 than 1e-308 but 0 (what every
// JSON reader, MySQL's too, holds as a double), and text without control
// characters (tab and line breaks allowed), in keys as in values. The
// message is meant for the admin who sent the settings.
func (s *SettingsSchema) Validate(settings json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(settings))
	if err != nil {
		return errNotObject
	}
	if _, ok := doc.(map[string]any); !ok {
		return errNotObject
	}
	if err := duplicateKey(settings); err != nil {
		return err
	}
	tameNumbers(doc)
	if err := s.schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(joinProblems(wording{root: s.doc, instance: doc}.violations(ve)))
		}
		return err
	}
	if problems := outOfBounds(doc, nil); len(problems) > 0 {
		return errors.New(joinProblems(problems))
	}
	return nil
}

// schemaError shortens the compiler's report of a schema that breaks its
// metaschema to its first violations (the key paths are into the schema),
// and says why a reference to another document failed.
func schemaError(err error, schema any) error {
	var se *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	var le *jsonschema.LoadURLError
	switch {
	case errors.As(err, &se) && errors.As(se.Err, &ve):
		// The metaschema is not at hand to word what a keyword must
		// be: the validator's own words, at the keyword's key path.
		return errors.New(joinProblems(wording{instance: schema}.violations(ve)))
	case errors.As(err, &le):
		return fmt.Errorf("it refers to %s: a settings schema must be whole, without references to other documents", le.URL)
	}
	return err
}

// tameNumbers replaces, in place, every number beyond ±1e308 (or nearer
// zero than 1e-308, but 0) by ±1e309 (or ±1e-309). The validator compares
// numbers exactly, and building 10^1000000 takes it 20 ms, so that a body
// full of such numbers would hold a host for minutes. Such numbers are
// refused in any case (outOfBounds); the stand-ins compare with every
// bound a settings schema can usefully set as the numbers themselves do,
// so that where the schema speaks about the value its words are the
// answer.
func tameNumbers(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok {
				v[k] = tameNumber(n)
			} else {
				tameNumbers(x)
			}
		}
	case []any:
		for i, x := range v {
			if n, ok := x.(json.Number); ok {
				v[i] = tameNumber(n)
			} else {
				tameNumbers(x)
			}
		}
	}
}

func tameNumber(n json.Number) json.Number {
	e, zero := magnitude(string(n))
	neg := strings.HasPrefix(string(n), "-")
	switch {
	case zero || (e >= -308 && e <= 308):
		return n
	case e > 0 && neg:
		return "-1e309"
	case e > 0:
		return "1e309"
	case neg:
		return "-1e-309"
	}
	return "1e-309"
}

// magnitude is the decimal exponent of a JSON number's first significant
// digit (2 for 123, -3 for 0.00123, 400 for 1e400), worked out from the
// text alone whatever its size; zero reports a number that is 0. An
// exponent too long to hold counts as ±1<<40.
func magnitude(lit string) (e int, zero bool) {
	lit = strings.TrimPrefix(lit, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(lit), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	switch {
	case strings.TrimLeft(whole, "0") != "":
		e = len(strings.TrimLeft(whole, "0")) - 1
	case strings.TrimLeft(frac, "0") != "":
		e = -(len(frac) - len(strings.TrimLeft(frac, "0")) + 1)
	default:
		return 0, true
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	x := 0
	if len(exp) > 12 {
		x = 1 << 40
	} else {
		for _, d := range exp {
			x = x*10 + int(d-'0')
		}
	}
	if neg {
		x = -x
	}
	return e + x, false
}

// maxNumber is the bound of a settings number, in round figures that a
// double holds.
var maxNumber, _ = new(big.Rat).SetString("1.7e308")

// outOfBounds finds what the schema cannot say: numbers a double cannot
// hold and control characters in text (keys too). at is v's key path.
func outOfBounds(v any, at []any) []string {
	var problems []string
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			key := append(at[:len(at):len(at)], k)
			if hasControl(k) {
				problems = append(problems, SettingsPath(key...)+": the key must be text without control characters")
			}
			problems = append(problems, outOfBounds(v[k], key)...)
		}
	case []any:
		for i, x := range v {
			problems = append(problems, outOfBounds(x, append(at[:len(at):len(at)], i))...)
		}
	case string:
		if hasControl(v) {
			problems = append(problems, SettingsPath(at...)+": must be text without control characters")
		}
	case json.Number:
		// Only a number of 309 digits needs exact arithmetic.
		switch e, zero := magnitude(string(v)); {
		case zero:
		case e > 308 || e == 308 && new(big.Rat).Abs(ratOf(v)).Cmp(maxNumber) > 0:
			problems = append(problems, SettingsPath(at...)+": must be a number from -1.7e308 to 1.7e308")
		case e < -308:
			problems = append(problems, SettingsPath(at...)+": must be 0 or a number of at least 1e-308 in size")
		}
	}
	return problems
}

// ratOf is a JSON number, exactly; only for numbers tameNumbers let by.
func ratOf(n json.Number) *big.Rat {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return new(big.Rat)
	}
	return r
}

// hasControl reports whether s holds a control character other than tab,
// line feed and carriage return: in settings they are typos at best, and
// at worst rewrite a log line or a terminal that shows them.
func hasControl(s string) bool {
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}
