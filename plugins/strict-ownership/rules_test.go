package main

import (
	"encoding/json"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// TestAssignmentRulesOnUpdate: a rule with "update" in its on assigns a
// record whose data a change makes match, when the record has no owner
// after the change; an owner given by hand stays unless the rule
// overrides it; create-only rules, moves between teams and Assign To
// itself fire nothing.
func TestAssignmentRulesOnUpdate(t *testing.T) {
	const team = "01J000000000000000000000T1"
	host := sdktest.NewHost()
	host.AddUser(install, sdk.UserInfo{ID: rep})
	host.AddUser(install, sdk.UserInfo{ID: rep2})
	host.AddTeam(install, sdk.Team{ID: team, Members: []sdk.TeamMember{{UserID: rep2}, {UserID: rep}}})
	settings := json.RawMessage(`{"assignment_rules":[
		{"name":"germany","type":"lead","on":["create","update"],"match":[{"field":"country","op":"equals","value":"DE"}],"assign_to":{"user":"` + boss + `"}},
		{"name":"france","type":"lead","on":["create","update"],"override":true,"match":[{"field":"country","op":"equals","value":"FR"}],"assign_to":{"team":"` + team + `"}},
		{"name":"italy","type":"lead","match":[{"field":"country","op":"equals","value":"IT"}],"assign_to":{"user":"` + rep + `"}}]}`)
	const lead = "01J000000000000000000000L1"
	write := func(op string, before *sdk.Record, after sdk.Record) sdk.Write {
		after.ID, after.Type = lead, sdk.TypeLead
		if before != nil {
			before.ID, before.Type = lead, sdk.TypeLead
		}
		return sdk.Write{Install: sdk.Install{ID: install}, User: sdk.User{ID: boss, Role: "member"}, Settings: settings,
			Operation: op, Before: before, After: &after}
	}
	change := func(owner, from, to string) sdk.Write {
		return write(sdk.OpUpdate, &sdk.Record{OwnerID: owner, Version: 3, Data: map[string]any{"country": from}},
			sdk.Record{OwnerID: owner, Version: 3, Data: map[string]any{"country": to}})
	}
	ownerAfter := func(t *testing.T, w sdk.Write) string {
		t.Helper()
		c, err := sdktest.BeforeWrite(strictOwnership{}, host, w)
		if err != nil {
			t.Fatal(err)
		}
		if c.OwnerID == nil {
			return w.After.OwnerID
		}
		return *c.OwnerID
	}
	for _, c := range []struct {
		name string
		w    sdk.Write
		want string
	}{
		{"FiresWhenAChangeMakesItMatch", change("", "AT", "DE"), boss},
		{"KeepsAnOwnerSetByHand", change(rep, "AT", "DE"), rep},
		{"CreateOnlyRulesDoNotRunOnUpdate", change("", "AT", "IT"), ""},
		{"OverrideReplacesAnOwnerSetByHand", change(boss, "AT", "FR"), rep},
		{"OverrideKeepsAMemberOfItsTeam", change(rep2, "AT", "FR"), rep2},
		{"OverrideOnCreate", write(sdk.OpCreate, nil, sdk.Record{OwnerID: boss, Data: map[string]any{"country": "FR"}}), rep2},
		{"NotOnAMoveBetweenTeams", write(sdk.OpUpdate, &sdk.Record{Version: 3, Data: map[string]any{"country": "DE"}},
			sdk.Record{Version: 3, TeamID: team, Data: map[string]any{"country": "DE"}}), ""},
		{"NotOnAssignTo", write(sdk.OpAssign, &sdk.Record{OwnerID: rep, Version: 3, Data: map[string]any{"country": "DE"}},
			sdk.Record{Version: 3, Data: map[string]any{"country": "DE"}}), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ownerAfter(t, c.w); got != c.want {
				t.Fatalf("owner after the write: %q, want %q", got, c.want)
			}
		})
	}

	t.Run("AuditedOnceWithOnUpdate", func(t *testing.T) {
		host.Audited[install] = nil
		if got := ownerAfter(t, change("", "AT", "DE")); got != boss {
			t.Fatalf("owner %q", got)
		}
		e := sdk.WriteEvent{ID: "01J0000000000000000000000E", Install: sdk.Install{ID: install}, Operation: sdk.OpUpdate,
			Before: &sdk.Record{ID: lead, Type: sdk.TypeLead, Version: 3}, After: &sdk.Record{ID: lead, Type: sdk.TypeLead, OwnerID: boss, Version: 4}}
		for range 2 {
			if err := sdktest.AfterWrite(strictOwnership{}, host, e); err != nil {
				t.Fatal(err)
			}
		}
		a := host.Audited[install]
		if len(a) != 1 || a[0].Action != "assignment_rule.fired" || a[0].Detail["name"] != "germany" || a[0].Detail["on"] != "update" || a[0].Record.ID != lead {
			t.Fatalf("audit: %+v", a)
		}
	})
	t.Run("ANoteOfAnotherOutcomeIsNotAudited", func(t *testing.T) {
		// The rule fired on a write that was then not committed as
		// decided: the committed one has another owner.
		host.Audited[install] = nil
		ownerAfter(t, change("", "AT", "DE"))
		e := sdk.WriteEvent{ID: "01J0000000000000000000000F", Install: sdk.Install{ID: install}, Operation: sdk.OpUpdate,
			Before: &sdk.Record{ID: lead, Type: sdk.TypeLead, Version: 3}, After: &sdk.Record{ID: lead, Type: sdk.TypeLead, Version: 4}}
		if err := sdktest.AfterWrite(strictOwnership{}, host, e); err != nil {
			t.Fatal(err)
		}
		if a := host.Audited[install]; len(a) != 0 {
			t.Fatalf("audit: %+v", a)
		}
		if _, found, _ := host.KVGet(t.Context(), install, firedKey(lead, e.Before)); found {
			t.Fatal("the note outlived its event")
		}
	})
}
