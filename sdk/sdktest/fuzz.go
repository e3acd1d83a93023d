package sdktest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
)

// FuzzSettings holds a plugin's settings parser to its manifest's schema,
// the check the host runs before the plugin sees the settings: whatever
// the schema accepts, parse accepts, or refuses with a message that names
// one of the schema's keys and speaks no Go. The manifest's default
// settings are a seed. Call it from the plugin's own FuzzXxx, with its
// seed corpus under testdata/fuzz:
//
//	func FuzzSettings(f *testing.F) {
//		sdktest.FuzzSettings(f, myPlugin{}, func(raw json.RawMessage) error { _, err := parse(raw); return err })
//	}
func FuzzSettings(f *testing.F, p sdk.Plugin, parse func(json.RawMessage) error) {
	m := p.Manifest()
	schema, err := m.Compile()
	if err != nil {
		f.Fatalf("%s: settings schema: %v", m.ID, err)
	}
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(m.SettingsSchema, &doc); err != nil {
		f.Fatalf("%s: settings schema: %v", m.ID, err)
	}
	var keys []string
	for k := range doc.Properties {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		f.Fatalf("%s: the settings schema names no properties", m.ID)
	}
	f.Add([]byte(m.DefaultSettings))
	f.Fuzz(func(t *testing.T, settings []byte) {
		if schema.Validate(settings) != nil {
			return
		}
		err := parse(settings)
		if err == nil {
			return
		}
		msg := err.Error()
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(msg, k) }) {
			t.Fatalf("%s: settings the schema accepts are refused by a message that names none of %v: %q\n%s", m.ID, keys, msg, settings)
		}
		for _, w := range goWords {
			if strings.Contains(msg, w) && !strings.Contains(string(settings), w) {
				t.Fatalf("%s: settings the schema accepts are refused by a message that speaks Go (%q): %q\n%s", m.ID, w, msg, settings)
			}
		}
	})
}
