package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// readerPackage is a plugin whose policy lets members see only their own
// leads and whose routes read records through the host API.
const readerPackage = "github.com/crmguard/crmguard/host/service/testdata/reader"

// TestHiddenParentsAreNull gives alice activities under a lead she may
// not see and under one she may, and reads them everywhere the host names
// a record's parent: a get, a list, a search, related records, the
// answers of a change and of an assignment, the access history, the
// plugin host API read as her (in process and from a plugin's route) and
// the decision API's explanation. The hidden lead is null everywhere, the
// visible one is named; the plugin reading as itself sees both.
func TestHiddenParentsAreNull(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withPlugins(t, w.svc, readerPackage)
		setActive(t, db, w.alice.Install.ID, true, "reader")
		bobs := w.create(t, w.admin, crm.TypeLead, "Bob's lead", w.bob.User.ID, nil)
		alices := w.create(t, w.alice, crm.TypeLead, "Alice's lead", w.alice.User.ID, nil)
		hiddenUnder := w.create(t, w.admin, crm.TypeActivity, "Call about bob's lead", w.alice.User.ID, &bobs)
		visibleUnder := w.create(t, w.alice, crm.TypeActivity, "Call about her lead", w.alice.User.ID, &alices)
		nested := w.create(t, w.alice, crm.TypeActivity, "Follow-up call", w.alice.User.ID, &hiddenUnder)
		want := map[string]*crm.Ref{
			hiddenUnder.ID:  nil,
			visibleUnder.ID: {Type: crm.TypeLead, ID: alices.ID},
			nested.ID:       {Type: crm.TypeActivity, ID: hiddenUnder.ID},
		}
		if _, err := w.svc.GetRecord(ctx, w.alice, crm.TypeLead, bobs.ID); !errors.Is(err, crm.ErrRecordNotFound) {
			t.Fatalf("alice sees bob's lead: %v", err)
		}
		parentIs := func(t *testing.T, where string, r crm.Record) {
			t.Helper()
			wantRef, ok := want[r.ID]
			if !ok {
				return
			}
			if (r.Parent == nil) != (wantRef == nil) || (r.Parent != nil && *r.Parent != *wantRef) {
				t.Errorf("%s: %s's parent is %v, want %v", where, r.ID, r.Parent, wantRef)
			}
		}

		t.Run("Get", func(t *testing.T) {
			for range 2 { // cold and warm
				for _, r := range []crm.Record{hiddenUnder, visibleUnder, nested} {
					got, err := w.svc.GetRecord(ctx, w.alice, r.Type, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					parentIs(t, "get", got)
				}
			}
		})
		t.Run("ListAndSearch", func(t *testing.T) {
			for _, q := range []string{"", "call"} {
				list, _, err := w.svc.ListRecords(ctx, w.alice, crm.TypeActivity, service.ListOptions{Query: q})
				if err != nil || len(list) != 3 {
					t.Fatalf("list %q: %d records, %v", q, len(list), err)
				}
				for _, r := range list {
					parentIs(t, "list "+q, r)
				}
			}
		})
		t.Run("Related", func(t *testing.T) {
			rel, err := w.svc.RelatedRecords(ctx, w.alice, nested.Type, nested.ID, "", service.ListOptions{})
			if err != nil || rel.Parent == nil {
				t.Fatalf("related of the follow-up: %+v, %v", rel, err)
			}
			parentIs(t, "related's parent", *rel.Parent)
			rel, err = w.svc.RelatedRecords(ctx, w.alice, hiddenUnder.Type, hiddenUnder.ID, "", service.ListOptions{})
			if err != nil || rel.Parent != nil || len(rel.Children) != 1 {
				t.Fatalf("related of the call about bob's lead: %+v, %v", rel, err)
			}
			parentIs(t, "related's child", rel.Children[0])
		})
		t.Run("WritesAnswer", func(t *testing.T) {
			got, err := w.svc.UpdateRecord(ctx, w.alice, hiddenUnder.Type, hiddenUnder.ID, rename("Call about a lead"), 0)
			if err != nil {
				t.Fatal(err)
			}
			parentIs(t, "update", got)
			got, err = w.svc.UpdateRecord(ctx, w.alice, visibleUnder.Type, visibleUnder.ID, rename("Call about my lead"), 0)
			if err != nil {
				t.Fatal(err)
			}
			parentIs(t, "update", got)
			got, err = w.svc.AssignRecord(ctx, w.alice, hiddenUnder.Type, hiddenUnder.ID, w.alice.User.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			parentIs(t, "assign", got)
		})
		t.Run("HostAPI", func(t *testing.T) {
			host := w.svc.PluginHost()
			pctx := plugins.WithCallingPlugin(ctx, "reader")
			in := w.alice.Install.ID
			for _, r := range []crm.Record{hiddenUnder, visibleUnder} {
				ref := &pluginv1.Ref{Type: string(r.Type), Id: r.ID}
				got, err := host.RecordGet(pctx, &pluginv1.RecordGetRequest{InstallId: in, Record: ref, AsUserId: w.alice.User.ID})
				if err != nil {
					t.Fatal(err)
				}
				parentIs(t, "host API get as alice", fromWire(got))
				// The plugin reading as itself sees every record of the install.
				got, err = host.RecordGet(pctx, &pluginv1.RecordGetRequest{InstallId: in, Record: ref})
				if err != nil || got.GetParent().GetId() != r.Parent.ID {
					t.Fatalf("host API get as the plugin: %v, %v", got, err)
				}
			}
			list, err := host.RecordList(pctx, &pluginv1.RecordListRequest{InstallId: in, Type: "activity", AsUserId: w.alice.User.ID})
			if err != nil || len(list.GetRecords()) != 3 {
				t.Fatalf("host API list as alice: %v, %v", list, err)
			}
			for _, r := range list.GetRecords() {
				parentIs(t, "host API list as alice", fromWire(r))
			}
			asPlugin, err := host.RecordList(pctx, &pluginv1.RecordListRequest{InstallId: in, Type: "activity"})
			if err != nil || !strings.Contains(asPlugin.String(), bobs.ID) {
				t.Fatalf("host API list as the plugin: %v, %v", asPlugin, err)
			}
		})
		t.Run("PluginRoutes", func(t *testing.T) {
			for _, path := range []string{"/as-caller/activity/" + hiddenUnder.ID, "/as-caller/activity/" + visibleUnder.ID, "/as-caller/activity"} {
				resp, err := w.svc.PluginHTTP(ctx, w.alice, "reader", service.PluginRequest{Method: "GET", Path: path})
				if err != nil || resp.Status != 200 {
					t.Fatalf("GET %s: %+v, %v", path, resp, err)
				}
				var page struct{ Items []sdk.Record }
				if !strings.HasSuffix(path, "/activity") {
					var r sdk.Record
					if err := json.Unmarshal(resp.Body, &r); err != nil {
						t.Fatal(err)
					}
					page.Items = []sdk.Record{r}
				} else if err := json.Unmarshal(resp.Body, &page); err != nil || len(page.Items) != 3 {
					t.Fatalf("GET %s: %s, %v", path, resp.Body, err)
				}
				for _, r := range page.Items {
					parentIs(t, "plugin route "+path, fromSDK(r))
				}
			}
			resp, err := w.svc.PluginHTTP(ctx, w.alice, "reader", service.PluginRequest{Method: "GET", Path: "/as-plugin/activity/" + hiddenUnder.ID})
			if err != nil || !strings.Contains(string(resp.Body), bobs.ID) {
				t.Fatalf("the plugin reading as itself: %+v, %v", resp, err)
			}
		})
		t.Run("Explain", func(t *testing.T) {
			res, err := w.svc.Check(ctx, w.alice, []service.CheckRequest{
				{Action: sdk.ActionView, Type: hiddenUnder.Type, ID: hiddenUnder.ID},
				{Action: sdk.ActionEdit, Type: hiddenUnder.Type, ID: hiddenUnder.ID},
			}, true)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(res)
			if !res[0].Allowed || strings.Contains(string(raw), bobs.ID) {
				t.Fatalf("explanation: %s", raw)
			}
		})
		t.Run("AccessHistory", func(t *testing.T) {
			// Deleting bob's lead detaches the call from it; the call's
			// history says so, naming the lead only to who may see every lead.
			if err := w.svc.DeleteRecord(ctx, w.admin, bobs.Type, bobs.ID, 0); err != nil {
				t.Fatal(err)
			}
			detached := func(p crm.Principal) any {
				t.Helper()
				h, err := w.svc.RecordAccess(ctx, p, hiddenUnder.Type, hiddenUnder.ID, service.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range h.History {
					if e.Action == crm.AuditRecordDetach {
						return e.Detail["parent"]
					}
				}
				t.Fatalf("no detachment in the history: %+v", h.History)
				return nil
			}
			if got := detached(w.alice); got != nil {
				t.Errorf("alice's history names the lead she may not see: %v", got)
			}
			if got, _ := detached(w.admin).(map[string]any); got["id"] != bobs.ID {
				t.Errorf("the admin's history names %v, want bob's lead", got)
			}
		})
	})
}

func fromWire(r *pluginv1.Record) crm.Record { return fromSDK(*sdk.RecordOf(r)) }

func fromSDK(r sdk.Record) crm.Record {
	out := crm.Record{ID: r.ID, Type: r.Type}
	if r.Parent != nil {
		out.Parent = &crm.Ref{Type: r.Parent.Type, ID: r.Parent.ID}
	}
	return out
}
