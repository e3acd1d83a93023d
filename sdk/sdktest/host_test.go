package sdktest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// TestRecordsReadAsTheHostSendsThem: a record added with Go numbers in its
// data reads back with json.Number, as from the real host.
func TestRecordsReadAsTheHostSendsThem(t *testing.T) {
	const in = "01J000000000000000000000AC"
	host := sdktest.NewHost()
	ref := sdk.Ref{Type: sdk.TypeLead, ID: "01J000000000000000000000L1"}
	host.AddRecord(in, sdk.Record{Type: ref.Type, ID: ref.ID, Data: map[string]any{"name": "Ada", "score": 5, "ratio": 0.5}})
	r, err := host.Record(context.Background(), in, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Data["score"] != json.Number("5") || r.Data["ratio"] != json.Number("0.5") || r.Data["name"] != "Ada" {
		t.Fatalf("data: %#v", r.Data)
	}
	list, _, err := host.Records(context.Background(), in, sdk.RecordQuery{Type: sdk.TypeLead})
	if err != nil || len(list) != 1 || list[0].Data["score"] != json.Number("5") {
		t.Fatalf("records: %#v, %v", list, err)
	}
}
