package main

import (
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// TestInvalidSettings: every refusal names the key and what it must be,
// in the product's words, whatever the value: wrong types, huge and
// exotic numbers, control characters, nested wrong shapes.
func TestInvalidSettings(t *testing.T) {
	host := newHost()
	for _, tc := range []struct{ name, settings, want string }{
		{"Valid", `{"unteamed_visible_to":"admins","cross_team_roles":["admin","manager"],"assign_moves_team":true}`, ""},
		{"NotAnObject", `1e400`, "settings: must be a JSON object"},
		{"UnknownVisibility", `{"unteamed_visible_to":"some"}`, `unteamed_visible_to: must be "everyone" or "admins"`},
		{"VisibilityNumber", `{"unteamed_visible_to":1e400}`, `unteamed_visible_to: must be "everyone" or "admins"`},
		{"VisibilityWithControlCharacter", `{"unteamed_visible_to":"admins\u0000"}`, `unteamed_visible_to: must be "everyone" or "admins"`},
		{"UnknownRole", `{"cross_team_roles":["nobody"]}`, `cross_team_roles[0]: must be a role of this install; there is no role "nobody"`},
		{"RoleWithControlCharacter", `{"cross_team_roles":["ad\u001bmin"]}`, "cross_team_roles[0]: must be text without control characters"},
		{"RolesNotAList", `{"cross_team_roles":"admin"}`, "cross_team_roles: must be a list of non-empty strings"},
		{"RoleInAList", `{"cross_team_roles":[["admin"]]}`, "cross_team_roles[0]: must be a non-empty string"},
		{"RoleNumber", `{"cross_team_roles":[99999999999999999999]}`, "cross_team_roles[0]: must be a non-empty string"},
		{"FlagNumber", `{"assign_moves_team":-0}`, "assign_moves_team: must be true or false"},
		{"FlagObject", `{"assign_moves_team":{"value":true}}`, "assign_moves_team: must be true or false"},
		{"UnknownSetting", `{"cross_team":[]}`, "cross_team: unknown setting; the settings are assign_moves_team, cross_team_roles and unteamed_visible_to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.SettingsAnswer(t, teams{}, host, sdk.Install{ID: install}, tc.settings, tc.want)
		})
	}
}
