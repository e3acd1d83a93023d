package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func TestConformance(t *testing.T) { sdktest.Conformance(t, hello{}) }

// TestSettingsSchema keeps the schema's record types those of the SDK, and
// its verdicts those of ValidateSettings.
func TestSettingsSchema(t *testing.T) {
	schema, err := hello{}.Manifest().Compile()
	if err != nil {
		t.Fatal(err)
	}
	var settings []string
	for _, typ := range sdk.RecordTypes {
		settings = append(settings, fmt.Sprintf(`{"read_only_types":[%q],"hidden_types":[%q]}`, typ, typ))
	}
	for _, raw := range settings {
		if err := schema.Validate(json.RawMessage(raw)); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	for raw, want := range map[string]string{
		`{"hidden_types":["lemon"]}`: "hidden_types[0]: must be " + recordTypesOr,
		`{"read_only":["lead"]}`:     "read_only: unknown setting; the settings are assign_to_creator, hidden_types, read_only_types and required_fields",
		`{"hidden_types":"lead"}`:    "hidden_types: must be a list of " + recordTypesOr,
	} {
		if err := schema.Validate(json.RawMessage(raw)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
		if err := (hello{}).ValidateSettings(context.Background(), sdk.Install{}, json.RawMessage(raw)); err == nil {
			t.Errorf("%s: the schema refuses it, ValidateSettings does not", raw)
		}
	}
}

func TestReadOnlyAndHiddenTypes(t *testing.T) {
	member := sdk.User{ID: "01J00000000000000000000001", Role: "member"}
	settings := json.RawMessage(`{"read_only_types":["account"],"hidden_types":["opportunity"]}`)
	p := sdktest.Policy(t, hello{}, sdk.PolicyRequest{User: member, Settings: settings, Policy: sdktest.BasePolicy(false)})
	account := sdktest.Record{Type: sdk.TypeAccount, ID: "01J00000000000000000000002", OwnerID: member.ID}
	deal := sdktest.Record{Type: sdk.TypeOpportunity, ID: "01J00000000000000000000003", OwnerID: member.ID}
	lead := sdktest.Record{Type: sdk.TypeLead, ID: "01J00000000000000000000004", OwnerID: member.ID}
	for _, c := range []struct {
		action sdk.Action
		r      sdktest.Record
		want   bool
	}{
		{sdk.ActionView, account, true}, {sdk.ActionEdit, account, false},
		{sdk.ActionView, deal, false}, {sdk.ActionEdit, lead, true},
	} {
		if got := sdktest.Allowed(p, member, c.action, c.r); got != c.want {
			t.Errorf("%s %s: allowed %v, want %v", c.action, c.r.Type, got, c.want)
		}
	}
	admin := sdktest.Policy(t, hello{}, sdk.PolicyRequest{User: sdk.User{ID: "01J00000000000000000000005", Role: "admin"}, Settings: settings, Policy: sdktest.BasePolicy(true)})
	if !sdktest.Allowed(admin, sdk.User{ID: "01J00000000000000000000005"}, sdk.ActionEdit, deal) {
		t.Error("an admin lost rights")
	}
}

// TestAsAProcess runs the plugin's binary through go-plugin, as the host does.
func TestAsAProcess(t *testing.T) {
	proc := sdktest.Run(t, ".")
	if proc.Manifest.ID != "hello" {
		t.Fatalf("manifest: %+v", proc.Manifest)
	}
	problem, err := proc.ValidateSettings(context.Background(), sdk.Install{}, json.RawMessage(`{"hidden_types":["lemon"]}`))
	if err != nil || problem == "" {
		t.Fatalf("bad settings: %q, %v", problem, err)
	}
}

func TestRulesRoute(t *testing.T) {
	caller := sdk.CallerInfo{Install: sdk.Install{Slug: "acme"}, User: sdk.User{ID: "01J00000000000000000000001"},
		Settings: json.RawMessage(`{"hidden_types":["lead"]}`)}
	req := httptest.NewRequestWithContext(sdk.WithCaller(context.Background(), caller), "GET", "/rules", nil)
	w := httptest.NewRecorder()
	hello{}.Routes().ServeHTTP(w, req)
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got["install"] != "acme" || fmt.Sprint(got["hidden_types"]) != "[lead]" || fmt.Sprint(got["read_only_types"]) != "[]" {
		t.Fatalf("rules: %v", got)
	}
}

func TestVisitsPerInstall(t *testing.T) {
	host := sdktest.NewHost()
	acme := sdk.CallerInfo{Install: sdk.Install{ID: "01J000000000000000000000AC", Slug: "acme"}}
	globex := sdk.CallerInfo{Install: sdk.Install{ID: "01J000000000000000000000GL", Slug: "globex"}}
	for range 2 {
		sdktest.Route(hello{}, host, acme, "POST", "/visits", "")
	}
	for caller, want := range map[string]string{"acme": `{"visits":2}`, "globex": `{"visits":0}`} {
		c := acme
		if caller == "globex" {
			c = globex
		}
		if w := sdktest.Route(hello{}, host, c, "GET", "/visits", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != want {
			t.Errorf("%s: %d %s, want %s", caller, w.Code, w.Body, want)
		}
	}
}

func TestRequiredFieldsAndAssignToCreator(t *testing.T) {
	settings := json.RawMessage(`{"required_fields":{"lead":["email"]},"assign_to_creator":true}`)
	rep := sdk.User{ID: "01J00000000000000000000001", Role: "member"}
	lead := func(data map[string]any) *sdk.Record {
		return &sdk.Record{ID: "01J00000000000000000000002", Type: sdk.TypeLead, CreatedBy: rep.ID, Data: data}
	}
	_, err := sdktest.BeforeWrite(hello{}, nil, sdk.Write{User: rep, Settings: settings, Operation: sdk.OpCreate, After: lead(map[string]any{"name": "Ada"})})
	var d *sdk.Denial
	if !errors.As(err, &d) || d.Code != "missing_field" || !strings.Contains(d.Message, "email") {
		t.Fatalf("a lead without e-mail: %v", err)
	}
	change, err := sdktest.BeforeWrite(hello{}, nil, sdk.Write{User: rep, Settings: settings, Operation: sdk.OpCreate, After: lead(map[string]any{"email": "ada@example.com"})})
	if err != nil || change.OwnerID == nil || *change.OwnerID != rep.ID || change.TeamID != nil {
		t.Fatalf("a new unassigned lead: %+v, %v", change, err)
	}
	// An update keeps its owner, assigned or not.
	change, err = sdktest.BeforeWrite(hello{}, nil, sdk.Write{User: rep, Settings: settings, Operation: sdk.OpUpdate,
		Before: lead(map[string]any{"email": "a@example.com"}), After: lead(map[string]any{"email": "b@example.com"})})
	if err != nil || change.OwnerID != nil {
		t.Fatalf("an update: %+v, %v", change, err)
	}
	// Accounts need nothing here; deleting needs no fields.
	if _, err := sdktest.BeforeWrite(hello{}, nil, sdk.Write{User: rep, Settings: settings, Operation: sdk.OpDelete, Before: lead(nil)}); err != nil {
		t.Fatal(err)
	}
}

func TestAfterWriteCountsEachEventOnce(t *testing.T) {
	host := sdktest.NewHost()
	acme := sdk.Install{ID: "01J000000000000000000000AC", Slug: "acme"}
	globex := sdk.Install{ID: "01J000000000000000000000GL", Slug: "globex"}
	event := func(id string, in sdk.Install, op string) sdk.WriteEvent {
		return sdk.WriteEvent{ID: id, Install: in, Operation: op, After: &sdk.Record{ID: "01J00000000000000000000002", Type: sdk.TypeLead}}
	}
	for _, e := range []sdk.WriteEvent{
		event("01J0000000000000000000000A", acme, sdk.OpCreate),
		event("01J0000000000000000000000A", acme, sdk.OpCreate), // delivered again
		event("01J0000000000000000000000B", acme, sdk.OpUpdate),
		event("01J0000000000000000000000C", globex, sdk.OpCreate),
	} {
		if err := sdktest.AfterWrite(hello{}, host, e); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[sdk.Install]string{acme: `{"writes":{"create":1,"update":1}}`, globex: `{"writes":{"create":1}}`} {
		w := sdktest.Route(hello{}, host, sdk.CallerInfo{Install: in}, "GET", "/writes", "")
		if got := strings.TrimSpace(w.Body.String()); got != want {
			t.Errorf("%s: %s, want %s", in.Slug, got, want)
		}
	}
}
