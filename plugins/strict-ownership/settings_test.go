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
	const team = "01J000000000000000000000T1"
	host := sdktest.NewHost()
	host.AddUser(install, sdk.UserInfo{ID: rep})
	host.AddTeam(install, sdk.Team{ID: team, Members: []sdk.TeamMember{{UserID: rep}}})
	rule := func(match string) string {
		return `{"assignment_rules":[{"type":"lead","match":[` + match + `],"assign_to":{"user":"` + rep + `"}}]}`
	}
	for _, tc := range []struct{ name, settings, want string }{
		{"ValidRoleAndChildren", `{"roles":{"member":{"opportunity":{"view":"role","edit":"role","delete":"own"},"lead":{"edit":"all","delete":"role"}}},` +
			`"children":{"activity":"view","contact":"view+edit","opportunity":"view"}}`, ""},
		{"Valid", `{"roles":{"member":{"lead":{"view":"own","edit":"own","delete":"none"}}},"creator_keeps_access":true,` +
			`"share_roles":["manager"],"assignment_rules":[{"name":"de","type":"lead","match":[{"field":"country","op":"in","value":["DE",1e300]}],` +
			`"assign_to":{"team":"` + team + `"},"on":["update","create"],"override":true}]}`, ""},
		{"NotAnObject", `"roles"`, "settings: must be a JSON object"},
		{"UnknownScope", `{"roles":{"member":{"lead":{"view":"mine"}}}}`, `roles.member.lead.view: must be "all", "own", "reports", "role" or "none"`},
		{"AddOwn", `{"roles":{"member":{"contact":{"view":"own","add":"own"}}}}`, `roles.member.contact.add: must be "all" or "none"`},
		{"AddReports", `{"roles":{"member":{"contact":{"add":"reports"}}}}`, `roles.member.contact.add: must be "all" or "none"`},
		{"AddValid", `{"roles":{"member":{"contact":{"view":"none","add":"none"},"lead":{"add":"all"}}}}`, ""},
		{"ScopeNumber", `{"roles":{"member":{"lead":{"view":1e400}}}}`, `roles.member.lead.view: must be "all", "own", "reports", "role" or "none"`},
		{"UnknownType", `{"roles":{"member":{"invoice":{"view":"own"}}}}`, "roles.member.invoice: unknown key; a key here must be " + recordTypesOr},
		{"UnknownAction", `{"roles":{"member":{"lead":{"peek":"own"}}}}`, "roles.member.lead.peek: unknown key; the keys here are add, delete, edit and view"},
		{"DeleteBeyondEdit", `{"roles":{"member":{"lead":{"edit":"own","delete":"all"}}}}`,
			`roles.member.lead.delete: must reach no further than edit's "own", not "all": deleting needs the right to edit; with edit "own", delete may be "none" or "own"`},
		// role and reports reach different users: neither is within the
		// other.
		{"DeleteRoleBeyondReports", `{"roles":{"member":{"lead":{"edit":"reports","delete":"role"}}}}`,
			`roles.member.lead.delete: must reach no further than edit's "reports", not "role": deleting needs the right to edit; with edit "reports", delete may be "none", "own" or "reports"`},
		{"DeleteReportsBeyondRole", `{"roles":{"member":{"opportunity":{"edit":"role","delete":"reports"}}}}`,
			`roles.member.opportunity.delete: must reach no further than edit's "role", not "reports": deleting needs the right to edit; with edit "role", delete may be "none", "own" or "role"`},
		{"DeleteAnythingBeyondNone", `{"roles":{"member":{"lead":{"edit":"none","delete":"own"}}}}`,
			`roles.member.lead.delete: must reach no further than edit's "none", not "own": deleting needs the right to edit; with edit "none", delete may be only "none"`},
		{"UnknownChildType", `{"children":{"lead":"view"}}`, `children.lead: unknown key; a key here must be "activity", "contact" or "opportunity"`},
		{"UnknownChildAccess", `{"children":{"activity":"edit"}}`, `children.activity: must be "view" or "view+edit"`},
		{"ChildAccessNotAString", `{"children":{"contact":true}}`, `children.contact: must be "view" or "view+edit"`},
		{"ChildrenNotAnObject", `{"children":["activity"]}`, `children: must be an object keyed by "activity", "contact" or "opportunity", whose values are "view" or "view+edit"`},
		{"UnknownRole", `{"roles":{"sales-rep":{"lead":{"view":"own"}}}}`,
			`roles.sales-rep: unknown key; a key here must be a role of this install, and there is no role "sales-rep"`},
		{"OddRole", `{"roles":{"sales rep":{}}}`,
			`roles["sales rep"]: unknown key; a key here must be a role of this install, and there is no role "sales rep"`},
		{"RoleWithControlCharacter", `{"roles":{"mem\u0000ber":{}}}`, `roles["mem\u0000ber"]: the key must be text without control characters`},
		{"RoleWrongShape", `{"roles":{"member":[1e400]}}`,
			"roles.member: must be an object keyed by " + recordTypesOr + ", whose values are objects with keys among add, delete, edit and view"},
		{"RolesWrongShape", `{"roles":["member"]}`, "roles: must be an object whose values are objects keyed by " + recordTypesOr +
			", whose values are objects"},
		{"FlagString", `{"creator_keeps_access":"yes"}`, "creator_keeps_access: must be true or false"},
		{"UnknownShareRole", `{"share_roles":["boss"]}`, `share_roles[0]: must be a role of this install; there is no role "boss"`},
		{"ShareRoleNumber", `{"share_roles":[-0]}`, "share_roles[0]: must be a non-empty string"},
		{"UnknownOperator", rule(`{"field":"country","op":"like","value":"D%"}`), `assignment_rules[0].match[0].op: must be "equals", "in" or "prefix"`},
		{"InWithoutList", rule(`{"field":"country","op":"in","value":"DE"}`), `assignment_rules[0].match[0].value: must be a list when op is "in"`},
		{"PrefixOfANumber", rule(`{"field":"zip","op":"prefix","value":1}`), `assignment_rules[0].match[0].value: must be a string when op is "prefix"`},
		{"HugeValue", rule(`{"field":"n","op":"equals","value":1e400}`), "assignment_rules[0].match[0].value: must be a number from -1.7e308 to 1.7e308"},
		{"HugeValueInList", rule(`{"field":"n","op":"in","value":[1,-1e1000000000]}`),
			"assignment_rules[0].match[0].value[1]: must be a number from -1.7e308 to 1.7e308"},
		{"FieldWithControlCharacter", rule(`{"field":"a\u0000","op":"equals","value":1}`),
			"assignment_rules[0].match[0].field: must be text without control characters"},
		{"ValueWithControlCharacter", rule(`{"field":"a","op":"equals","value":{"x":["\u001b[2J"]}}`),
			"assignment_rules[0].match[0].value.x[0]: must be text without control characters"},
		{"MatchMissingValue", rule(`{"field":"a","op":"equals"}`), "assignment_rules[0].match[0].value: must be given"},
		{"UserAndTeam", `{"assignment_rules":[{"type":"lead","assign_to":{"user":"u","team":"t"}}]}`,
			"assignment_rules[0].assign_to: must be an object with exactly one key, team or user"},
		{"UnknownUser", `{"assignment_rules":[{"type":"lead","assign_to":{"user":"01J00000000000000000000009"}}]}`,
			`assignment_rules[0].assign_to.user: must be the id of a user of this install; there is no user "01J00000000000000000000009"`},
		{"UnknownTeam", `{"assignment_rules":[{"type":"lead","assign_to":{"team":"01J000000000000000000000T9"}}]}`,
			`assignment_rules[0].assign_to.team: must be the id of a team of this install; there is no team "01J000000000000000000000T9"`},
		{"RuleWithoutType", `{"assignment_rules":[{"assign_to":{"user":"u"}}]}`, "assignment_rules[0].type: must be given"},
		{"UnknownRuleKey", `{"assignment_rules":[{"type":"lead","when":[],"assign_to":{"user":"u"}}]}`,
			"assignment_rules[0].when: unknown key; the keys here are assign_to, match, name, on, override and type"},
		{"RulesNotAList", `{"assignment_rules":{"type":"lead"}}`, "assignment_rules: must be a list of objects with keys among assign_to, match, name, on, override and type"},
		{"OnUnknownWrite", `{"assignment_rules":[{"type":"lead","on":["create","delete"],"assign_to":{"user":"u"}}]}`,
			`assignment_rules[0].on[1]: must be "create" or "update"`},
		{"OnEmpty", `{"assignment_rules":[{"type":"lead","on":[],"assign_to":{"user":"u"}}]}`,
			`assignment_rules[0].on: must be a list of "create" or "update" with at least 1 item, without repeats`},
		{"OnRepeated", `{"assignment_rules":[{"type":"lead","on":["update","update"],"assign_to":{"user":"u"}}]}`,
			`assignment_rules[0].on: must be a list of "create" or "update" with at least 1 item, without repeats`},
		{"OnNotAList", `{"assignment_rules":[{"type":"lead","on":"update","assign_to":{"user":"u"}}]}`,
			`assignment_rules[0].on: must be a list of "create" or "update" with at least 1 item, without repeats`},
		{"OverrideString", `{"assignment_rules":[{"type":"lead","override":"yes","assign_to":{"user":"u"}}]}`,
			"assignment_rules[0].override: must be true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.SettingsAnswer(t, strictOwnership{}, host, sdk.Install{ID: install}, tc.settings, tc.want)
		})
	}
}
