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
