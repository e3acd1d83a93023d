package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// CheckSettings does what the host does with settings an admin saves for
// an install: it checks them against the manifest's settings schema,
// then asks the plugin's SettingsValidator (through the protocol, with
// host as its host API). The error's message is what the admin reads
// after "settings of <plugin>: ".
func CheckSettings(ctx context.Context, p sdk.Plugin, host sdk.Host, in sdk.Install, settings json.RawMessage) error {
	schema, err := p.Manifest().Compile()
	if err != nil {
		return fmt.Errorf("the manifest: %w", err)
	}
	if err := schema.Validate(settings); err != nil {
		return err
	}
	resp, err := sdk.ServerWithHost(p, host).ValidateSettings(ctx, &pluginv1.SettingsRequest{
		Install: sdk.WireInstall(in), SettingsJson: settings,
	})
	if err != nil {
		return fmt.Errorf("the settings hook failed: %w", err)
	}
	if resp.GetProblem() != "" {
		return errors.New(resp.GetProblem())
	}
	return nil
}

// SettingsAnswer checks a plugin's answer to a settings document, both
// the way the host asks (CheckSettings: schema, then SettingsValidator)
// and from its SettingsValidator alone, which must not trust that the
// schema ran: each must be want, the message of the refusal ("" for
// settings it accepts), and never speak Go.
func SettingsAnswer(t *testing.T, p sdk.Plugin, host sdk.Host, in sdk.Install, settings, want string) {
	t.Helper()
	ctx := sdk.WithHost(t.Context(), host)
	check := func(how string, err error) {
		t.Helper()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: %s\ngot  %s\nwant %s", how, settings, got, want)
		}
		for _, w := range goWords {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q speaks Go (%q)", how, got, w)
			}
		}
	}
	check("as the host checks", CheckSettings(ctx, p, host, in, json.RawMessage(settings)))
	if v, ok := p.(sdk.SettingsValidator); ok {
		check("by the plugin alone", v.ValidateSettings(ctx, in, json.RawMessage(settings)))
	}
}

// goWords are what a settings message never says: the plugin's Go types
// and its decoder are no business of the admin who sent the settings.
var goWords = []string{"Go struct", "Go value", "json:", "unmarshal", "int64", "int32", "float64", "float32",
	"map[", "[]", "interface {", "struct {", "sdk.", "%!"}

// CheckSettingsMessage reports what is wrong with the message of a
// settings refusal: it must name the key path at fault (sdk.SettingsPath)
// and say what the value must be in the product's words, never in Go's.
func CheckSettingsMessage(msg, path string) error {
	if !strings.Contains(msg, path) {
		return fmt.Errorf("%q does not name %s", msg, path)
	}
	for _, w := range goWords {
		if strings.Contains(msg, w) {
			return fmt.Errorf("%q speaks Go (%q)", msg, w)
		}
	}
	return nil
}

// exoticValues are settings values that no plugin should accept for
// most keys, and none should answer in Go's words or with a panic: wrong
// types, numbers beyond any type, control characters, nested wrong
// shapes.
var exoticValues = []string{
	`1e400`, `-1e400`, `1e1000000000`, `99999999999999999999`, `-0`, `1.5`, `1e-400`, `0.1e1`,
	`"x\u0000y"`, `"\u001b[2J"`, `"\u009b"`, `""`, `"` + strings.Repeat("long", 4096) + `"`,
	`true`, `null`, `[]`, `[1e400]`, `[[[["x"]]]]`, `[{"a":1.5}]`, `{}`, `{"k\u0000":1}`,
	`{"lead":{"view":[1e400]}}`, `{"a":{"b":[-0]}}`,
}

// settingsKeys are the top-level keys of a settings schema, sorted.
func settingsKeys(schema json.RawMessage) []string {
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &doc) != nil || len(doc.Properties) == 0 {
		return []string{"setting"}
	}
	keys := make([]string, 0, len(doc.Properties))
	for k := range doc.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// literal is a string as JSON writes it.
func literal(s string) string {
	raw, err := json.Marshal(s)
	if err != nil {
		return `""`
	}
	return string(raw)
}
