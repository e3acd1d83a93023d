package sdk

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

type bare struct{ m Manifest }

func (b bare) Manifest() Manifest { return b.m }

type filtering struct{ bare }

func (filtering) Policy(_ context.Context, req PolicyRequest) (Policy, error) { return req.Policy, nil }

func TestManifestValidate(t *testing.T) {
	good := Manifest{ID: "strict-ownership", Name: "Strict ownership", Version: "1.0.0", SettingsSchema: json.RawMessage(`{}`)}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Manifest)
		want   string
	}{
		{func(m *Manifest) { m.ID = "ab" }, "3 to 64"},
		{func(m *Manifest) { m.ID = "Strict" }, "3 to 64"},
		{func(m *Manifest) { m.ID = strings.Repeat("a", 65) }, "3 to 64"},
		{func(m *Manifest) { m.Version = "" }, "name and version"},
		{func(m *Manifest) { m.DefaultSettings = json.RawMessage(`{`) }, "not JSON"},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"type":"objekt"}`) }, "settings schema does not compile: type: "},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"pattern":"("}`) }, "settings schema does not compile: pattern: "},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"$ref":"#/$defs/missing"}`) }, "settings schema does not compile"},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"$ref":"http://127.0.0.1:1/schema.json"}`) }, "without references to other documents"},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"$ref":"file:///etc/hostname"}`) }, "without references to other documents"},
		{func(m *Manifest) {
			m.SettingsSchema = json.RawMessage(`{"properties":{"mode":{"enum":["strict","lax"]}}}`)
			m.DefaultSettings = json.RawMessage(`{"mode":"loose"}`)
		}, `default settings do not match the settings schema: mode: must be "strict" or "lax"`},
		{func(m *Manifest) { m.SettingsSchema = json.RawMessage(`{"required":["mode"]}`) }, // no defaults are {}
			`default settings do not match the settings schema: mode: must be given`},
		{func(m *Manifest) { m.SettingsSchema, m.DefaultSettings = nil, json.RawMessage(`[]`) }, "must be a JSON object"},
	} {
		m := good
		tc.change(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", m, err, tc.want)
		}
	}
}

func TestHooksAreWhatThePluginImplements(t *testing.T) {
	if h := Hooks(bare{}); len(h) != 0 {
		t.Fatalf("a bare plugin has hooks %v", h)
	}
	if h := Hooks(filtering{}); !slices.Equal(h, []string{HookPolicy}) {
		t.Fatalf("hooks %v, want [policy]", h)
	}
}

func TestSettingsSchema(t *testing.T) {
	types := `{"type":"array","items":{"enum":["lead","contact"]}}`
	schema, err := CompileSettingsSchema(json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",` +
		`"properties":{"read_only_types":` + types + `,"hidden_types":` + types + `},"additionalProperties":false}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, settings, wantErr string
	}{
		{"Empty", `{}`, ""},
		{"Valid", `{"hidden_types":["lead"],"read_only_types":[]}`, ""},
		{"NotAnObject", `["lead"]`, "settings: must be a JSON object"},
		{"NotJSON", `{`, "settings: must be a JSON object"},
		{"BadItem", `{"hidden_types":["lead","lemon"]}`, `hidden_types[1]: must be "lead" or "contact"`},
		{"WrongType", `{"hidden_types":"lead"}`, `hidden_types: must be a list of "lead" or "contact"`},
		{"Typo", `{"hiden_types":[],"read_only":[]}`, "hiden_types: unknown setting; the settings are hidden_types and read_only_types; " +
			"read_only: unknown setting; the settings are hidden_types and read_only_types"},
		{"FirstTwoOnly", `{"hidden_types":["x","y","z"]}`,
			`hidden_types[0]: must be "lead" or "contact"; hidden_types[1]: must be "lead" or "contact"; and 1 more`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := schema.Validate(json.RawMessage(tc.settings)); err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Fatalf("got %q, want %q", got, tc.wantErr)
			}
		})
	}
	t.Run("EmptyIsAnyObject", func(t *testing.T) {
		schema, err := CompileSettingsSchema(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(json.RawMessage(`{"anything":[1]}`)); err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(json.RawMessage(`"x"`)); err == nil {
			t.Fatal("a string passed as settings")
		}
	})
	t.Run("OlderDraft", func(t *testing.T) {
		schema, err := CompileSettingsSchema(json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"n":{"type":"integer"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(json.RawMessage(`{"n":1.5}`)); err == nil || err.Error() != "n: must be a whole number" {
			t.Fatalf("got %v, want a complaint about /n", err)
		}
	})
}
