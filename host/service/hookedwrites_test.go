package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

const strictOwnershipPackage = "github.com/crmguard/crmguard/plugins/strict-ownership"

// TestHooksOfAChangeMayWriteToTheHostAPI: the before-write hooks of a
// change run outside its transaction, so that a hook may write to the
// host API on the way — here strict-ownership's assignment rule on
// update, which turns a round-robin counter in its KV store — on SQLite
// (one writer at a time) as on MySQL. The change is audited as the
// plugin's, and the rule that fired once the write is committed.
func TestHooksOfAChangeMayWriteToTheHostAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withPlugins(t, w.svc, strictOwnershipPackage)
		team, err := w.svc.CreateTeam(ctx, w.admin, "Germany")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetTeamMembers(ctx, w.admin, team.ID, []crm.Membership{{TeamID: team.ID, UserID: w.alice.User.ID}, {TeamID: team.ID, UserID: w.bob.User.ID}}); err != nil {
			t.Fatal(err)
		}
		settings := json.RawMessage(`{"assignment_rules":[{"name":"germany","type":"lead","on":["update"],` +
			`"match":[{"field":"country","op":"equals","value":"DE"}],"assign_to":{"team":"` + team.ID + `"}}]}`)
		if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "strict-ownership", settings); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "strict-ownership", true); err != nil {
			t.Fatal(err)
		}
		var owners []string
		for _, name := range []string{"Berlin", "Munich"} {
			lead := w.create(t, w.carol, crm.TypeLead, name, "", nil)
			if lead.OwnerID != "" {
				t.Fatalf("a rule on update fired on create: %+v", lead)
			}
			got, err := w.svc.UpdateRecord(ctx, w.carol, crm.TypeLead, lead.ID, service.RecordChange{Data: map[string]any{"country": "DE"}}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 {
				t.Fatalf("version %d after one change", got.Version)
			}
			owners = append(owners, got.OwnerID)
			w.svc.DeliverDue(ctx)
			h, err := w.svc.RecordAccess(ctx, w.admin, crm.TypeLead, lead.ID, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var assigned, fired bool
			for _, e := range h.History {
				assigned = assigned || e.Action == crm.AuditRecordAssign && e.Detail["by_plugin"] == true && e.Detail["to"] == got.OwnerID
				fired = fired || e.Action == "strict-ownership.assignment_rule.fired" && e.Detail["on"] == "update" && e.Detail["owner_id"] == got.OwnerID
			}
			if !assigned || !fired {
				t.Fatalf("history: %+v", h.History)
			}
		}
		slices.Sort(owners)
		want := []string{w.alice.User.ID, w.bob.User.ID}
		slices.Sort(want)
		if !slices.Equal(owners, want) {
			t.Fatalf("owners %v, want one lead each for alice and bob", owners)
		}
	})
}
