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
	const days = "must be a whole number from 1 to 3650"
	host := newHost(`{}`)
	host.AddTeam(install, sdk.Team{ID: "01J000000000000000000000T1"})
	for _, tc := range []struct{ name, settings, want string }{
		{"Valid", `{"max_days":90,"default_days":{"lead":3},"actions":["view"],"delegate_roles":["manager","member"],` +
			`"disabled":{"lead":{"roles":["member"],"teams":["01J000000000000000000000T1"]}},"expiry_field":"due","extension_days":0}`, ""},
		{"WholeNumbersHoweverWritten", `{"max_days":90.0,"default_days":{"lead":3e0},"extension_days":-0}`, ""},
		{"TenYears", `{"max_days":3650,"default_days":{"lead":3650}}`, ""},
		{"NotAnObject", `[]`, "settings: must be a JSON object"},
		{"Huge", `{"max_days":1e400}`, "max_days: " + days},
		{"HugeInteger", `{"max_days":99999999999999999999}`, "max_days: " + days},
		{"HugeExponent", `{"max_days":1e1000000000}`, "max_days: " + days},
		{"OverTenYears", `{"max_days":3651}`, "max_days: " + days},
		{"NegativeZero", `{"max_days":-0}`, "max_days: " + days},
		{"Fraction", `{"max_days":1.5}`, "max_days: " + days},
		{"Tiny", `{"max_days":1e-400}`, "max_days: " + days},
		{"String", `{"max_days":"90"}`, "max_days: " + days},
		{"Null", `{"max_days":null}`, "max_days: " + days},
		{"List", `{"max_days":[90]}`, "max_days: " + days},
		{"DefaultOverMax", `{"max_days":20}`, "default_days.contact: must be a whole number of days from 1 to max_days (20), not 30; " +
			"give the type its own default_days or raise max_days"},
		{"DefaultHuge", `{"default_days":{"lead":1e400}}`, "default_days.lead: " + days},
		{"DefaultOfUnknownType", `{"default_days":{"lemon":3}}`, "default_days.lemon: unknown key; a key here must be " + recordTypesOr},
		{"DefaultWrongShape", `{"default_days":[14]}`,
			"default_days: must be an object keyed by " + recordTypesOr + ", whose values are whole numbers from 1 to 3650"},
		{"ExtensionNegative", `{"extension_days":-1}`, "extension_days: must be a whole number from 0 to 3650"},
		{"ExtensionHuge", `{"extension_days":-1e400}`, "extension_days: must be a whole number from 0 to 3650"},
		{"EditWithoutView", `{"actions":["edit"]}`, `actions: must be ["view"] or ["view", "edit"]: a delegation always gives view`},
		{"UnknownAction", `{"actions":["view","delete"]}`, `actions[1]: must be "view" or "edit"`},
		{"NoAction", `{"actions":[]}`, `actions: must be a list of "view" or "edit" with at least 1 item, without repeats`},
		{"RepeatedAction", `{"actions":["view","view"]}`, `actions: must be a list of "view" or "edit" with at least 1 item, without repeats`},
		{"UnknownRole", `{"delegate_roles":["director"]}`, `delegate_roles[0]: must be a role of this install; there is no role "director"`},
		{"RoleWithControlCharacter", `{"delegate_roles":["man\u0000ager"]}`, "delegate_roles[0]: must be text without control characters"},
		{"RoleNotAString", `{"delegate_roles":[{"name":"manager"}]}`, "delegate_roles[0]: must be a non-empty string"},
		{"DisabledNotAList", `{"disabled":{"lead":{"roles":"intern"}}}`, "disabled.lead.roles: must be a list of non-empty strings"},
		{"DisabledUnknownKey", `{"disabled":{"lead":{"colour":[]}}}`, "disabled.lead.colour: unknown key; the keys here are roles and teams"},
		{"DisabledUnknownRole", `{"disabled":{"lead":{"roles":["director"]}}}`,
			`disabled.lead.roles[0]: must be a role of this install; there is no role "director"`},
		{"DisabledUnknownTeam", `{"disabled":{"account":{"teams":["01J000000000000000000000T9"]}}}`,
			`disabled.account.teams[0]: must be the id of a team of this install; there is no team "01J000000000000000000000T9"`},
		{"ExpiryFieldNumber", `{"expiry_field":5}`, "expiry_field: must be a string"},
		{"ExpiryFieldEscape", `{"expiry_field":"due\u001b[0m"}`, "expiry_field: must be text without control characters"},
		{"UnknownSetting", `{"bogus":1}`, "bogus: unknown setting; the settings are actions, default_days, delegate_roles, disabled, " +
			"expiry_field, extension_days and max_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.SettingsAnswer(t, delegation{}, host, sdk.Install{ID: install}, tc.settings, tc.want)
		})
	}
}
