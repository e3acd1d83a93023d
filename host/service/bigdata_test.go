package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestLargeRecords: a record as large as a request allows is changed and
// deleted like any other, the audit of its deletion keeping its data (on
// MySQL, beyond TEXT's 64 KiB).
func TestLargeRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		notes := strings.Repeat("Called; left a message. ", 20_000) // 480 KB
		r, err := w.svc.CreateRecord(ctx, w.alice, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "Big", "notes": notes}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdateRecord(ctx, w.alice, r.Type, r.ID, service.RecordChange{Data: map[string]any{"notes": notes + "!"}}, 0); err != nil {
			t.Fatalf("a change: %v", err)
		}
		if err := w.svc.DeleteRecord(ctx, w.alice, r.Type, r.ID, 0); err != nil {
			t.Fatalf("delete: %v", err)
		}
		h, err := db.RecordAudit(ctx, w.alice.Install.ID, r.Type, r.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		last := h[len(h)-1]
		if data, _ := last.Detail["data"].(map[string]any); last.Action != crm.AuditRecordDelete || data["notes"] != notes+"!" {
			t.Fatalf("the delete's audit does not keep the record's data: %s", last.Action)
		}
	})
}
