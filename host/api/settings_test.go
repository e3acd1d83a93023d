package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestInvalidHostSettings: every refusal of an install's own settings is
// 400 invalid_settings naming the key and what it must be, whatever the
// value, and changes nothing.
func TestInvalidHostSettings(t *testing.T) {
	const (
		assignBy = `assign_by: must be "admins", "owners" or "everyone"`
		enabled  = "assignment_enabled: must be true or false"
		timezone = `timezone: must be the name of a time zone of the IANA database, such as "Europe/Berlin", "America/New_York" or "UTC"`
	)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for _, tc := range []struct {
			name, body, want string
		}{
			{"NotAnObject", `["owners"]`, "settings: must be a JSON object"},
			{"Number", `1e400`, "settings: must be a JSON object"},
			{"Null", `null`, "settings: must be a JSON object"},
			{"UnknownValue", `{"assign_by":"robots"}`, assignBy + `, got "robots"`},
			{"Huge", `{"assign_by":1e400}`, assignBy},
			{"HugeInteger", `{"assignment_enabled":99999999999999999999}`, enabled},
			{"NegativeZero", `{"assignment_enabled":-0}`, enabled},
			{"Fraction", `{"assignment_enabled":1.5}`, enabled},
			{"String", `{"assignment_enabled":"yes"}`, enabled},
			{"Nested", `{"assign_by":{"value":["owners"]}}`, assignBy},
			{"List", `{"assign_by":["owners"]}`, assignBy},
			{"UnknownSetting", `{"colour":"red"}`, "colour: unknown setting; the settings are assign_by, assignment_enabled and timezone"},
			{"UnknownOddSetting", `{"assign by\u0000":"owners"}`,
				`["assign by\u0000"]: unknown setting; the settings are assign_by, assignment_enabled and timezone`},
			{"FirstOfTwo", `{"assignment_enabled":"no","assign_by":5}`, assignBy},
			{"UnknownTimezone", `{"timezone":"Mars/Olympus_Mons"}`, timezone + `, got "Mars/Olympus_Mons"`},
			{"EmptyTimezone", `{"timezone":""}`, timezone + `, got ""`},
			{"LocalTimezone", `{"timezone":"Local"}`, timezone + `, got "Local"`},
			{"OffsetTimezone", `{"timezone":"+13:00"}`, timezone + `, got "+13:00"`},
			{"TimezoneNumber", `{"timezone":13}`, timezone},
			{"TimezoneList", `{"timezone":["UTC"]}`, timezone},
			{"TimezoneWithOthers", `{"assign_by":"admins","timezone":"Narnia"}`, timezone + `, got "Narnia"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.admin.do("PUT", "/v1/settings", tc.body)
				if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_settings" {
					t.Fatalf("got %d %s, want 400 invalid_settings", r.status, r.body)
				}
				var body struct{ Error struct{ Message string } }
				if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Message != tc.want {
					t.Fatalf("got  %s\nwant %s", body.Error.Message, tc.want)
				}
				for _, w := range []string{"Go struct", "json:", "int64", "float64", "crm.", "*bool"} {
					if strings.Contains(body.Error.Message, w) {
						t.Fatalf("%q speaks Go (%q)", body.Error.Message, w)
					}
				}
			})
		}
		r := f.admin.do("GET", "/v1/settings", nil)
		if r.status != http.StatusOK || r.json(t)["assign_by"] != "owners" || r.json(t)["assignment_enabled"] != true || r.json(t)["timezone"] != "UTC" {
			t.Fatalf("settings after refused changes: %d %s", r.status, r.body)
		}
		if r := f.admin.do("PUT", "/v1/settings", `{"assign_by":"admins","assignment_enabled":null}`); r.status != http.StatusOK ||
			r.json(t)["assign_by"] != "admins" || r.json(t)["assignment_enabled"] != true {
			t.Fatalf("valid change: %d %s", r.status, r.body)
		}
		if r := f.admin.do("PUT", "/v1/settings", `{"timezone":"America/New_York"}`); r.status != http.StatusOK ||
			r.json(t)["timezone"] != "America/New_York" || r.json(t)["assign_by"] != "admins" {
			t.Fatalf("time zone change: %d %s", r.status, r.body)
		}
		if r := f.admin.do("PUT", "/v1/settings", `{"timezone":null}`); r.status != http.StatusOK || r.json(t)["timezone"] != "America/New_York" {
			t.Fatalf("a null time zone changed it: %d %s", r.status, r.body)
		}
	})
}
