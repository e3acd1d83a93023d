package main

import (
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

const recordTypesOr = `"lead", "contact", "account", "opportunity" or "activity"`

// TestInvalidSettings: every refusal names the key and what it must be,
// in the product's words, whatever the value: wrong types, huge and
// exotic numbers, control characters, nested wrong shapes.
func TestInvalidSettings(t *testing.T) {
	host := sdktest.NewHost()
	for _, tc := range []struct{ name, settings, want string }{
		{"Valid", `{"read_only_types":["account"],"required_fields":{"lead":["email","phone\tnumber"]},"assign_to_creator":true}`, ""},
		{"NotAnObject", `["account"]`, "settings: must be a JSON object"},
		{"NotJSON", `{"read_only_types":`, "settings: must be a JSON object"},
		{"UnknownSetting", `{"read_only":["lead"]}`,
			"read_only: unknown setting; the settings are assign_to_creator, hidden_types, read_only_types and required_fields"},
		{"UnknownType", `{"hidden_types":["lemon"]}`, "hidden_types[0]: must be " + recordTypesOr},
		{"TypeWithControlCharacter", `{"hidden_types":["lead\u0000"]}`, "hidden_types[0]: must be " + recordTypesOr},
		{"NotAList", `{"read_only_types":"account"}`, "read_only_types: must be a list of " + recordTypesOr},
		{"ListInList", `{"read_only_types":[["account"]]}`, "read_only_types[0]: must be " + recordTypesOr},
		{"Number", `{"read_only_types":1e400}`, "read_only_types: must be a list of " + recordTypesOr},
		{"FieldsNotAList", `{"required_fields":{"lead":"email"}}`, "required_fields.lead: must be a list of non-empty strings"},
		{"EmptyField", `{"required_fields":{"lead":[""]}}`, "required_fields.lead[0]: must be a non-empty string"},
		{"FieldWithControlCharacter", `{"required_fields":{"lead":["e\u0000mail"]}}`,
			"required_fields.lead[0]: must be text without control characters"},
		{"FieldsOfUnknownType", `{"required_fields":{"lemon":["email"]}}`,
			"required_fields.lemon: unknown key; a key here must be " + recordTypesOr},
		{"FieldsWrongShape", `{"required_fields":[{"lead":["email"]}]}`,
			"required_fields: must be an object keyed by " + recordTypesOr + ", whose values are lists of non-empty strings"},
		{"FieldNumber", `{"required_fields":{"lead":[-0]}}`, "required_fields.lead[0]: must be a non-empty string"},
		{"FlagNumber", `{"assign_to_creator":1}`, "assign_to_creator: must be true or false"},
		{"FlagHuge", `{"assign_to_creator":99999999999999999999}`, "assign_to_creator: must be true or false"},
		{"FlagString", `{"assign_to_creator":"true"}`, "assign_to_creator: must be true or false"},
		{"Two", `{"assign_to_creator":null,"hidden_types":{}}`,
			"assign_to_creator: must be true or false; hidden_types: must be a list of " + recordTypesOr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.SettingsAnswer(t, hello{}, host, sdk.Install{ID: "01J000000000000000000000AC"}, tc.settings, tc.want)
		})
	}
}
