package service_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// The plugins the service's tests run for real.
const (
	helloPackage     = "github.com/crmguard/crmguard/plugins/hello"
	hierarchyPackage = "github.com/crmguard/crmguard/host/service/testdata/hierarchy"
)

// startPlugins builds plugin packages and runs them as the host does, as
// go-plugin processes calling host (nil: no host API).
func startPlugins(t *testing.T, host pluginv1.HostServer, pkgs ...string) *plugins.Runtime {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range pkgs {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(pkg)), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	rt, err := plugins.Start(context.Background(), plugins.Options{Dir: dir, Host: host, HealthEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	if problems := rt.Problems(); len(problems) > 0 {
		t.Fatalf("a plugin did not start: %+v", problems)
	}
	return rt
}

// withPlugins runs plugin packages with the service's host API and gives
// them to the service.
func withPlugins(t *testing.T, svc *service.Service, pkgs ...string) *plugins.Runtime {
	t.Helper()
	rt := startPlugins(t, svc.PluginHost(), pkgs...)
	svc.UsePlugins(rt)
	return rt
}

// withHello runs plugins/hello for real and gives it to the service.
func withHello(t *testing.T, svc *service.Service) *plugins.Plugin {
	t.Helper()
	pl, _ := withPlugins(t, svc, helloPackage).Plugin("hello")
	return pl
}

// helloWrites reads hello's count of an install's writes through its
// route.
func helloWrites(t *testing.T, svc *service.Service, p crm.Principal) map[string]int {
	t.Helper()
	resp, err := svc.PluginHTTP(context.Background(), p, "hello", service.PluginRequest{Method: "GET", Path: "/writes"})
	if err != nil || resp.Status != 200 {
		t.Fatalf("GET /writes: %+v, %v", resp, err)
	}
	var out struct{ Writes map[string]int }
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Writes
}

func TestWriteHooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &testClock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
		w := newWorld(t, db, service.WithClock(clock.now))
		hello := withHello(t, w.svc)
		old := w.create(t, w.alice, crm.TypeLead, "Before hello", w.alice.User.ID, nil) // no e-mail
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "hello", true); err != nil {
			t.Fatal(err)
		}
		settings := json.RawMessage(`{"required_fields":{"lead":["email"]},"assign_to_creator":true}`)
		if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hello", settings); err != nil {
			t.Fatal(err)
		}
		leads := func(p crm.Principal) int {
			n, err := w.svc.CountRecords(ctx, p, crm.TypeLead, service.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}

		t.Run("ADenialIsA403AndNothingIsWritten", func(t *testing.T) {
			_, err := w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "No Mail"}})
			wantCode(t, err, "missing_field")
			if e, _ := crm.AsError(err); e.Kind != crm.KindForbidden || e.Message != "lead: email is required in this install" {
				t.Fatalf("denial: %+v", e)
			}
			if n := leads(w.alice); n != 1 { // the one from before hello
				t.Fatalf("%d leads after a refused create, want 1", n)
			}
		})
		var lead crm.Record
		t.Run("AnAdjustmentIsStoredAndAudited", func(t *testing.T) {
			var err error
			lead, err = w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "Ada", "email": "ada@example.com"}})
			if err != nil || lead.OwnerID != w.alice.User.ID {
				t.Fatalf("create: %+v, %v", lead, err)
			}
			stored, err := w.svc.GetRecord(ctx, w.bob, crm.TypeLead, lead.ID)
			if err != nil || stored.OwnerID != w.alice.User.ID {
				t.Fatalf("stored: %+v, %v", stored, err)
			}
			h, err := w.svc.RecordAccess(ctx, w.alice, crm.TypeLead, lead.ID, service.ListOptions{})
			if err != nil || len(h.History) != 2 || h.History[1].Action != crm.AuditRecordAssign {
				t.Fatalf("history: %+v, %v", h.History, err)
			}
		})
		t.Run("UpdatesAreChecked", func(t *testing.T) {
			_, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, service.RecordChange{Data: map[string]any{"email": nil}}, 0)
			wantCode(t, err, "missing_field")
			got, _ := w.svc.GetRecord(ctx, w.alice, crm.TypeLead, lead.ID)
			if got.Data["email"] != "ada@example.com" || got.Version != lead.Version {
				t.Fatalf("a refused update changed the record: %+v", got)
			}
		})
		t.Run("OtherInstallsAreUntouched", func(t *testing.T) {
			r, err := w.svc.CreateRecord(ctx, w.mallory, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "No Mail"}})
			if err != nil || r.OwnerID != "" {
				t.Fatalf("globex's create: %+v, %v", r, err)
			}
		})
		t.Run("AfterWriteEventsAreDelivered", func(t *testing.T) {
			w.svc.DeliverDue(ctx)
			if got := helloWrites(t, w.svc, w.alice); got["create"] != 1 || len(got) != 1 {
				t.Fatalf("acme's writes: %v", got)
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events left after delivery", n)
			}
		})
		t.Run("AnEventWaitsForItsPlugin", func(t *testing.T) {
			if _, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, lead.ID, rename("Ada L."), 0); err != nil {
				t.Fatal(err)
			}
			pid := hello.Pid()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// The supervisor sees the exit within 50 ms and restarts the
			// plugin only after a second's backoff.
			waitFor(t, func() bool { return !hello.Running() })
			_, err := w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "X", "email": "x@example.com"}})
			wantCode(t, err, "plugin_unavailable") // writes it must see first are refused
			w.svc.DeliverDue(ctx)
			if n, _ := db.PendingEvents(ctx); n != 1 {
				t.Fatalf("%d events pending while the plugin is down, want the update's", n)
			}
			waitFor(t, hello.Running)
			for range 10 { // retries come later and later
				clock.add(10 * time.Minute)
				w.svc.DeliverDue(ctx)
			}
			if got := helloWrites(t, w.svc, w.alice); got["create"] != 1 || got["update"] != 1 {
				t.Fatalf("acme's writes after the restart: %v", got)
			}
		})
		t.Run("BulkReassignmentGoesThroughTheHooks", func(t *testing.T) {
			// Each record is decided as its Assign To would be: the hook
			// refuses the lead without an e-mail, which stays and is
			// named with the hook's answer; the other moves.
			out, err := w.svc.Reassign(ctx, w.admin, crm.TypeLead, w.alice.User.ID, w.bob.User.ID)
			if err != nil || out.Reassigned != 1 || len(out.Refused) != 1 {
				t.Fatalf("reassign: %+v, %v", out, err)
			}
			_, single := w.svc.AssignRecord(ctx, w.admin, crm.TypeLead, old.ID, w.bob.User.ID, 0)
			wantCode(t, single, "missing_field")
			if e, _ := crm.AsError(single); out.Refused[0] != (service.RefusedRecord{ID: old.ID, Code: e.Code, Message: e.Message}) {
				t.Fatalf("refused %+v, Assign To answers %v", out.Refused[0], e)
			}
			if n, _ := w.svc.CountRecords(ctx, w.alice, crm.TypeLead, service.ListOptions{Owner: "me"}); n != 1 {
				t.Fatalf("alice owns %d leads after the reassignment, want the refused one", n)
			}
			if _, err := w.svc.UpdateRecord(ctx, w.alice, crm.TypeLead, old.ID, service.RecordChange{Data: map[string]any{"email": "old@example.com"}}, 0); err != nil {
				t.Fatal(err)
			}
			if out, err := w.svc.Reassign(ctx, w.admin, crm.TypeLead, w.alice.User.ID, w.bob.User.ID); err != nil || out.Reassigned != 1 || len(out.Refused) != 0 {
				t.Fatalf("reassign: %+v, %v", out, err)
			}
			w.svc.DeliverDue(ctx)
			if got := helloWrites(t, w.svc, w.alice); got["assign"] != 2 || got["update"] != 2 {
				t.Fatalf("acme's writes after the reassignment: %v", got)
			}
		})
		t.Run("DeactivatedPluginsHearNothing", func(t *testing.T) {
			if _, err := w.svc.SetPluginActive(ctx, w.admin, "hello", false); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "Free"}}); err != nil {
				t.Fatal(err)
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("%d events queued for a deactivated plugin", n)
			}
		})
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIDsCheckedBeforeHooks: a new record's owner and team ids are
// checked before the plugins' before-write hooks see them, so that a bad
// id is the caller's 400, not a hook's failure to ask the host about it
// (which refused the write as if the plugin were down).
func TestIDsCheckedBeforeHooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withPlugins(t, w.svc, "github.com/crmguard/crmguard/plugins/teams")
		team, err := w.svc.CreateTeam(ctx, w.admin, "Sales")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetTeamMembers(ctx, w.admin, team.ID, []crm.Membership{{UserID: w.alice.User.ID, Primary: true}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "teams", true); err != nil {
			t.Fatal(err)
		}
		for _, nr := range []service.NewRecord{
			{Type: crm.TypeAccount, Data: map[string]any{"name": "A"}, OwnerID: "\ud7ff"},
			{Type: crm.TypeAccount, Data: map[string]any{"name": "A"}, OwnerID: "not an id"},
			{Type: crm.TypeAccount, Data: map[string]any{"name": "A"}, TeamID: "not an id"},
		} {
			_, err := w.svc.CreateRecord(ctx, w.alice, nr)
			if e, ok := crm.AsError(err); !ok || e.Kind != crm.KindInvalid || e.Code != "invalid_id" {
				t.Errorf("owner %q, team %q: %v, want 400 invalid_id", nr.OwnerID, nr.TeamID, err)
			}
		}
	})
}
