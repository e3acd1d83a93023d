package crm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
)

func code(err error) string {
	if err == nil {
		return ""
	}
	e, ok := crm.AsError(err)
	if !ok {
		return "internal"
	}
	return e.Code
}

func TestValidateData(t *testing.T) {
	many := map[string]any{"name": "x"}
	for i := range crm.MaxFieldKeys {
		many[strings.Repeat("k", i+1)] = i
	}
	for _, tc := range []struct {
		name string
		data map[string]any
		want string
	}{
		{"Valid", map[string]any{"name": "Acme", "email": "a@b.c", "x": []any{1}}, ""},
		{"Nil", nil, "invalid_data"},
		{"NoName", map[string]any{"email": "a@b.c"}, "invalid_data"},
		{"BlankName", map[string]any{"name": "   "}, "invalid_data"},
		{"NameNotString", map[string]any{"name": 3.0}, "invalid_data"},
		{"EmailNotString", map[string]any{"name": "x", "email": true}, "invalid_data"},
		{"NameTooLong", map[string]any{"name": strings.Repeat("é", crm.MaxNameLen+1)}, "invalid_data"},
		{"NameAtLimit", map[string]any{"name": strings.Repeat("é", crm.MaxNameLen)}, ""},
		{"TooManyFields", many, "invalid_data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(crm.ValidateData(tc.data)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidateParent(t *testing.T) {
	id := crm.NewID()
	for _, tc := range []struct {
		name   string
		typ    crm.RecordType
		parent *crm.Ref
		want   string
	}{
		{"None", crm.TypeLead, nil, ""},
		{"ContactOfAccount", crm.TypeContact, &crm.Ref{Type: crm.TypeAccount, ID: id}, ""},
		{"OpportunityOfAccount", crm.TypeOpportunity, &crm.Ref{Type: crm.TypeAccount, ID: id}, ""},
		{"ActivityOfAnything", crm.TypeActivity, &crm.Ref{Type: crm.TypeLead, ID: id}, ""},
		{"ContactOfLead", crm.TypeContact, &crm.Ref{Type: crm.TypeLead, ID: id}, "invalid_parent"},
		{"LeadWithParent", crm.TypeLead, &crm.Ref{Type: crm.TypeAccount, ID: id}, "invalid_parent"},
		{"AccountWithParent", crm.TypeAccount, &crm.Ref{Type: crm.TypeAccount, ID: id}, "invalid_parent"},
		{"BadID", crm.TypeContact, &crm.Ref{Type: crm.TypeAccount, ID: "7"}, "invalid_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(crm.ValidateParent(tc.typ, tc.parent)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIdentifiers(t *testing.T) {
	if _, err := crm.ParseRecordType("leads"); code(err) != "invalid_record_type" {
		t.Errorf("leads: %v", err)
	}
	for _, typ := range crm.RecordTypes {
		if got, err := crm.ParseRecordType(string(typ)); err != nil || got != typ {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if err := crm.ValidateID("id", crm.NewID()); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "42", strings.ToLower(crm.NewID()), crm.NewID() + "0"} {
		if code(crm.ValidateID("id", bad)) != "invalid_id" {
			t.Errorf("id %q accepted", bad)
		}
	}
	for slug, ok := range map[string]bool{"acme": true, "a1-b2": true, "a": false, "-acme": false, "Acme": false, "ac me": false} {
		if got := crm.ValidateSlug(slug) == nil; got != ok {
			t.Errorf("slug %q: valid %v, want %v", slug, got, ok)
		}
	}
	if got, err := crm.NormalizeEmail("Alice@Example.COM"); err != nil || got != "alice@example.com" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []string{"", "alice", "Alice <alice@example.com>", "a@b@c"} {
		if _, err := crm.NormalizeEmail(bad); code(err) != "invalid_email" {
			t.Errorf("e-mail %q accepted", bad)
		}
	}
}

func TestSettingsAndRoles(t *testing.T) {
	if err := crm.DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
	if code(crm.Settings{AssignmentEnabled: true, AssignBy: "robots"}.Validate()) != "invalid_settings" {
		t.Fatal("assign_by robots accepted")
	}
	if got := crm.DefaultSettings().Timezone; got != "UTC" {
		t.Fatalf("default time zone %q, want UTC", got)
	}
	for _, tz := range []string{"UTC", "Pacific/Auckland", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Etc/GMT+12"} {
		s := crm.DefaultSettings()
		s.Timezone = tz
		if err := s.Validate(); err != nil {
			t.Errorf("time zone %q refused: %v", tz, err)
		}
	}
	// "" and "Local" are time.LoadLocation's, not the IANA database's.
	for _, tz := range []string{"", "Local", "Mars/Olympus_Mons", "+13:00", "../zoneinfo/UTC", "Europe/Berlin\n"} {
		s := crm.DefaultSettings()
		s.Timezone = tz
		err := s.Validate()
		if code(err) != "invalid_settings" || !strings.HasPrefix(err.Error(), "timezone: ") || !strings.Contains(err.Error(), fmt.Sprintf("got %q", tz)) {
			t.Errorf("time zone %q: %v", tz, err)
		}
	}
	if err := crm.ValidateTimezone(strings.Repeat("Europe/", 100)); err == nil || len(err.Error()) > 300 {
		t.Errorf("a long name: %v", err)
	}
	admin := crm.Role{Capabilities: []crm.Capability{crm.CapAdmin}}
	if !admin.Has(crm.CapReassign) {
		t.Fatal("admin lacks reassign")
	}
	if (crm.Role{}).Has(crm.CapReassign) {
		t.Fatal("an empty role has reassign")
	}
}
