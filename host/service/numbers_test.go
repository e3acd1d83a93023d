package service_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// TestPluginNumbersStayExact: the numbers a plugin hands the host (in an
// audit entry's detail) and an admin gives a plugin (in its settings) are
// kept as written, as records' are: beyond float64 in a detail, beyond
// float64's precision in settings (whose numbers stay within its range).
func TestPluginNumbersStayExact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withPlugins(t, w.svc, hierarchyPackage)
		settings := json.RawMessage(`{"threshold":12345678901234567890123,"grants_from":[]}`)
		got, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hierarchy", settings)
		if err != nil || string(got) != string(settings) {
			t.Fatalf("settings: %s, %v", got, err)
		}
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "hierarchy", true); err != nil {
			t.Fatal(err)
		}
		lead := w.create(t, w.alice, crm.TypeLead, "Big", "", nil)
		host := w.svc.PluginHost()
		_, err = host.AuditAppend(plugins.WithCallingPlugin(ctx, "hierarchy"), &pluginv1.AuditAppendRequest{InstallId: w.alice.Install.ID,
			Action: "scored", Record: &pluginv1.Ref{Type: "lead", Id: lead.ID}, DetailJson: []byte(`{"score":1e400,"ratio":0.10000000000000001}`)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := w.svc.RecordAccess(ctx, w.admin, crm.TypeLead, lead.ID, service.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := h.History[len(h.History)-1]
		if last.Action != "hierarchy.scored" || last.Detail["score"] != json.Number("1e400") || last.Detail["ratio"] != json.Number("0.10000000000000001") {
			t.Fatalf("audit: %+v", last)
		}
	})
}
