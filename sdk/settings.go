package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SettingsSchema is a manifest's settings schema, compiled: what a host
// checks every install's settings against before the plugin's own
// SettingsValidator sees them. It is safe for concurrent use.
type SettingsSchema struct {
	schema *jsonschema.Schema
}

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
		return nil, schemaError(err)
	}
	return &SettingsSchema{schema: s}, nil
}

// noLoader refuses every document the compiler would load from elsewhere
// (the drafts' own metaschemas are built in and need none).
type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errors.ErrUnsupported }

// Validate reports why settings are not a JSON object that matches the
// schema: the first violations, each as the JSON pointer of the offending
// value and what is wrong with it, e.g.
//
//	/hidden_types/0: value must be one of 'lead', 'contact'
//
// The message is meant for the admin who sent the settings.
func (s *SettingsSchema) Validate(settings json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(settings))
	if err != nil {
		return errors.New("must be a JSON object")
	}
	if _, ok := doc.(map[string]any); !ok {
		return errors.New("must be a JSON object")
	}
	if err := duplicateKey(settings); err != nil {
		return err
	}
	if err := s.schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(violations(ve))
		}
		return err
	}
	return nil
}

// schemaError shortens the compiler's report of a schema that breaks its
// metaschema to its first violations (the pointers are into the schema),
// and says why a reference to another document failed.
func schemaError(err error) error {
	var se *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	var le *jsonschema.LoadURLError
	switch {
	case errors.As(err, &se) && errors.As(se.Err, &ve):
		return errors.New(violations(ve))
	case errors.As(err, &le):
		return fmt.Errorf("it refers to %s: a settings schema must be whole, without references to other documents", le.URL)
	}
	return err
}

// printer words the violations, in English like the rest of the API.
var printer = message.NewPrinter(language.English)

// maxViolations bounds how many violations a message names: the first
// ones are enough to fix, and the message stays a sentence.
const maxViolations = 2

// violations describes the first leaves of a validation error's tree, in
// the order of their pointers so that the same input gets the same words.
func violations(ve *jsonschema.ValidationError) string {
	var leaves []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if k, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			slices.Sort(k.Properties) // found in map order
		}
		leaf := e.ErrorKind.LocalizedString(printer)
		if ptr := pointer(e.InstanceLocation); ptr != "" {
			leaf = ptr + ": " + leaf
		}
		leaves = append(leaves, leaf)
	}
	walk(ve)
	slices.Sort(leaves)
	leaves = slices.Compact(leaves)
	if len(leaves) > maxViolations {
		leaves = append(leaves[:maxViolations], fmt.Sprintf("and %d more", len(leaves)-maxViolations))
	}
	return strings.Join(leaves, "; ")
}

var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")

// pointer is the JSON pointer (RFC 6901) of a value's location.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscape.Replace(t))
	}
	return b.String()
}
