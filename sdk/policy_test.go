package sdk_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule sdk.Rule
		typ  sdk.RecordType
		act  sdk.Action
		want string
	}{
		{"Valid", sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondParentAllows, Depth: 2}}, All: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{"T"}}}}, sdk.TypeLead, sdk.ActionView, ""},
		{"UnknownKind", sdk.Rule{Any: []sdk.Cond{{Kind: "owner_maybe"}}}, sdk.TypeLead, sdk.ActionView, `unknown condition kind "owner_maybe"`},
		{"UnknownKindInAll", sdk.Rule{All: []sdk.Cond{{Kind: "x"}}}, sdk.TypeLead, sdk.ActionView, `unknown condition kind "x"`},
		{"DepthZero", sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondParentAllows}}}, sdk.TypeLead, sdk.ActionView, "depth must be 1 to 4"},
		{"DepthTooDeep", sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondParentAllows, Depth: 9}}}, sdk.TypeLead, sdk.ActionView, "depth must be 1 to 4"},
		{"GrantedWithoutSources", sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondGranted}}}, sdk.TypeLead, sdk.ActionView, "sources must name"},
		{"UnknownType", sdk.Rule{}, "deal", sdk.ActionView, `unknown record type "deal"`},
		{"UnknownAction", sdk.Rule{}, sdk.TypeLead, "fly", `unknown action "fly"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p sdk.Policy
			p.SetRule(tc.typ, tc.act, tc.rule)
			err := p.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMissingRuleAllowsNothing(t *testing.T) {
	var p sdk.Policy
	if r := p.Rule(sdk.TypeLead, sdk.ActionEdit); len(r.Any) != 0 || len(r.All) != 0 {
		t.Fatalf("a missing rule is %+v", r)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var p sdk.Policy
	p.SetRule(sdk.TypeContact, sdk.ActionEdit, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondGranted, Sources: []string{"delegation"}, Origin: "delegation"}}})
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.Policy
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Rule(sdk.TypeContact, sdk.ActionEdit); len(got.Any) != 1 || got.Any[0].Sources[0] != "delegation" || got.Any[0].Origin != "delegation" {
		t.Fatalf("round trip lost the rule: %s", raw)
	}
}
