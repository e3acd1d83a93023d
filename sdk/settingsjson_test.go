package sdk_test

import (
	"encoding/json"
	"testing"

	"github.com/crmguard/crmguard/sdk"
)

// Settings that hold a key twice are refused: the schema check reads the
// last value, a plugin's decoder may fail on the first.
func TestSettingsDuplicateKeys(t *testing.T) {
	s, err := sdk.CompileSettingsSchema(json.RawMessage(`{"type":"object"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ settings, want string }{
		{`{"a":1,"a":2}`, `key "a" appears twice`},
		{`{"roles":{"":{"":{"":""}},"":{}}}`, `roles: key "" appears twice`},
		{`{"rules":[{"x":1},{"y":1,"y":2}]}`, `rules[1]: key "y" appears twice`},
		{`{"a":{"b":1},"c":{"b":1},"d":[{"b":1},{"b":1}]}`, ""},
	} {
		err := s.Validate(json.RawMessage(tc.settings))
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.want {
				t.Errorf("Validate(%s) = %q, want %q", tc.settings, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("Validate(%s) = nil, want %q", tc.settings, tc.want)
		}
	}
}

// Decoding errors name the key and what it must be, in no Go words.
func TestSettingsError(t *testing.T) {
	var s struct {
		MaxDays int               `json:"max_days"`
		Rules   []struct{ V any } `json:"rules"`
		On      bool              `json:"on"`
	}
	for _, tc := range []struct{ settings, want string }{
		{`{"max_days":30.0}`, "max_days: must be a whole number, got 30.0"},
		{`{"max_days":"30"}`, "max_days: must be a whole number"},
		{`{"rules":[{"V":1e400}]}`, "rules.V: must be a number between -1.8e308 and 1.8e308, got 1e400"},
		{`{"on":1}`, "on: must be true or false"},
		{`{"rules":{}}`, "rules: must be a list"},
		{`[]`, "settings: must be an object"},
	} {
		err := json.Unmarshal([]byte(tc.settings), &s)
		if err == nil {
			t.Fatalf("%s decoded", tc.settings)
		}
		if got := sdk.SettingsError(err).Error(); got != tc.want {
			t.Errorf("SettingsError(%s) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
