package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestEndOfDay: a day ends at the next midnight in the install's time
// zone, an instant that moves with its clocks: 23- and 25-hour days
// where they change (New York and Auckland, at night), and the zones
// that change at midnight itself, skipping it (Santiago: time.Date alone
// answers an hour early) or living it twice (Amman: the first counts).
func TestEndOfDay(t *testing.T) {
	for _, tc := range []struct{ zone, day, want string }{
		{"UTC", "2026-12-20", "2026-12-21T00:00:00Z"},
		{"Pacific/Auckland", "2026-12-20", "2026-12-20T11:00:00Z"}, // NZDT, +13
		{"Pacific/Auckland", "2026-04-04", "2026-04-04T11:00:00Z"}, // the night clocks go back
		{"Pacific/Auckland", "2026-04-05", "2026-04-05T12:00:00Z"}, // a 25-hour day, ending in NZST (+12)
		{"Pacific/Auckland", "2026-09-26", "2026-09-26T12:00:00Z"}, // the night clocks go forward
		{"Pacific/Auckland", "2026-09-27", "2026-09-27T11:00:00Z"}, // a 23-hour day
		{"America/New_York", "2026-03-07", "2026-03-08T05:00:00Z"}, // EST
		{"America/New_York", "2026-03-08", "2026-03-09T04:00:00Z"}, // clocks forward at 2:00: ends in EDT
		{"America/New_York", "2026-10-31", "2026-11-01T04:00:00Z"},
		{"America/New_York", "2026-11-01", "2026-11-02T05:00:00Z"}, // clocks back at 2:00: ends in EST
		{"America/Santiago", "2026-09-05", "2026-09-06T04:00:00Z"}, // midnight skipped: the next day begins at 01:00 -03
		{"Asia/Amman", "2017-10-26", "2017-10-26T21:00:00Z"},       // midnight twice: the first, in +03
		{"Asia/Kolkata", "2026-12-20", "2026-12-20T18:30:00Z"},
		{"Pacific/Kiritimati", "2026-12-20", "2026-12-20T10:00:00Z"}, // +14
		{"Etc/GMT+12", "2026-12-20", "2026-12-21T12:00:00Z"},         // -12
	} {
		t.Run(tc.zone+"/"+tc.day, func(t *testing.T) {
			d, _ := time.Parse(time.DateOnly, tc.day)
			got := endOfDay(d.Year(), d.Month(), d.Day(), mustZone(t, tc.zone))
			if got.UTC().Format(time.RFC3339) != tc.want {
				t.Fatalf("got %s, want %s", got.UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
}

// TestEndOfDayEveryDay holds endOfDay to its definition on every day of
// several years in zones whose clocks change in every way: the instant
// is of a later day there, and the second before it is not.
func TestEndOfDayEveryDay(t *testing.T) {
	for _, zone := range []string{"UTC", "Pacific/Auckland", "Pacific/Chatham", "America/New_York", "America/Santiago", "America/Havana",
		"America/Asuncion", "America/Sao_Paulo", "Asia/Amman", "Asia/Beirut", "Africa/Cairo", "Asia/Gaza", "Australia/Lord_Howe",
		"Europe/London", "Asia/Tehran", "Pacific/Apia"} {
		loc := mustZone(t, zone)
		for day := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2028; day = day.AddDate(0, 0, 1) {
			end := endOfDay(day.Year(), day.Month(), day.Day(), loc)
			// Later, not always the next: Apia skipped 30 December 2011.
			if y, m, d := end.In(loc).Date(); !time.Date(y, m, d, 0, 0, 0, 0, time.UTC).After(day) {
				t.Fatalf("%s %s ends at %s, which is %d-%02d-%02d there", zone, day.Format(time.DateOnly), end.In(loc), y, m, d)
			}
			// (A day a zone skipped ends when the next begins.)
			if y, m, d := end.Add(-time.Second).In(loc).Date(); time.Date(y, m, d, 0, 0, 0, 0, time.UTC).After(day) {
				t.Fatalf("%s %s ends at %s, but the second before is %d-%02d-%02d there", zone, day.Format(time.DateOnly), end.In(loc), y, m, d)
			}
		}
	}
}

// inZone is a caller of an install in a time zone.
func inZone(u, role, zone, settings string) sdk.CallerInfo {
	c := as(u, role, settings)
	c.Install.Timezone = zone
	return c
}

// TestDateExpiry: everywhere the API takes expires_at (one delegation, a
// change, a bulk delegation) a day means the end of that day in the
// install's time zone, and the answer says the instant, in UTC; a time
// is read as it always was; a day that is not one, or is not a date of
// the calendar, is refused naming both forms; a day that has ended, or
// ends past max_days, as a time would be.
func TestDateExpiry(t *testing.T) {
	// 22:00 on 18 December in Auckland (NZDT, +13).
	now := time.Date(2026, 12, 18, 9, 0, 0, 0, time.UTC)
	host := newHost(`{}`)
	host.Now = func() time.Time { return now }
	const auckland = "Pacific/Auckland"
	owner := inZone(alice, "member", auckland, `{}`)
	path := "/records/lead/" + lead + "/delegations"
	expiry := func(t *testing.T, w string) string {
		t.Helper()
		var v struct {
			ExpiresAt string `json:"expires_at"`
		}
		if err := json.Unmarshal([]byte(w), &v); err != nil {
			t.Fatal(err)
		}
		return v.ExpiresAt
	}

	w := sdktest.Route(delegation{}, host, owner, "POST", path, `{"user_id":"`+bob+`","expires_at":"2026-12-20"}`)
	if w.Code != http.StatusCreated || expiry(t, w.Body.String()) != "2026-12-20T11:00:00Z" {
		t.Fatalf("until 20 December in Auckland: %d %s, want it to end at 2026-12-20T11:00:00Z", w.Code, w.Body)
	}
	grants, _, _ := host.ListGrants(t.Context(), install, sdk.GrantQuery{})
	if len(grants) != 1 || !grants[0].ExpiresAt.Equal(time.Date(2026, 12, 20, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored: %+v", grants)
	}
	if n := host.Notified[install]; len(n) != 1 || !strings.Contains(n[0].Subject, "until 2026-12-20T11:00:00Z") {
		t.Fatalf("the alert: %+v", n)
	}
	id := grants[0].ID

	// Today in Auckland ends in two hours: a delegation may still last
	// until then.
	w = sdktest.Route(delegation{}, host, owner, "PATCH", "/delegations/"+id, `{"expires_at":"2026-12-18"}`)
	if w.Code != http.StatusOK || expiry(t, w.Body.String()) != "2026-12-18T11:00:00Z" {
		t.Fatalf("until the end of today: %d %s", w.Code, w.Body)
	}
	// A change to a day across the change of clocks, and a time as
	// before.
	for body, want := range map[string]string{
		`{"expires_at":"2027-01-05"}`:                "2027-01-05T11:00:00Z",
		`{"expires_at":"2026-12-25T18:00:00+01:00"}`: "2026-12-25T17:00:00Z",
	} {
		w = sdktest.Route(delegation{}, host, owner, "PATCH", "/delegations/"+id, body)
		if w.Code != http.StatusOK || expiry(t, w.Body.String()) != want {
			t.Fatalf("%s: %d %s, want %s", body, w.Code, w.Body, want)
		}
	}
	// The same day in an install in UTC ends 11 hours later.
	w = sdktest.Route(delegation{}, host, inZone(alice, "member", "", `{}`), "PATCH", "/delegations/"+id, `{"expires_at":"2026-12-20"}`)
	if w.Code != http.StatusOK || expiry(t, w.Body.String()) != "2026-12-21T00:00:00Z" {
		t.Fatalf("20 December in UTC: %d %s", w.Code, w.Body)
	}

	// A bulk delegation to a day: every record until its end.
	host.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000000L3", OwnerID: alice})
	w = sdktest.Route(delegation{}, host, owner, "POST", "/delegations:bulk",
		`{"user_id":"`+intern+`","type":"lead","owner_id":"`+alice+`","expires_at":"2026-12-21"}`)
	var out struct{ Delegated []view }
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil || len(out.Delegated) != 2 {
		t.Fatalf("bulk: %d %s", w.Code, w.Body)
	}
	for _, v := range out.Delegated {
		if !v.ExpiresAt.Equal(time.Date(2026, 12, 21, 11, 0, 0, 0, time.UTC)) {
			t.Fatalf("bulk: %s until %v", v.Record.ID, v.ExpiresAt)
		}
	}

	both := `expires_at: must be a time such as "2026-12-20T18:00:00Z" (RFC 3339, with its offset) or a day such as "2026-12-20" ` +
		`(which lasts until midnight at its end in the install's time zone, Pacific/Auckland); got `
	for _, tc := range []struct{ name, expires, want string }{
		{"NoSuchDay", `"2026-02-30"`, both + `"2026-02-30"`},
		{"DayFirst", `"20-12-2026"`, both + `"20-12-2026"`},
		{"ShortMonth", `"2026-1-05"`, both + `"2026-1-05"`},
		{"NoSuchHour", `"2026-12-20T25:00:00Z"`, both + `"2026-12-20T25:00:00Z"`},
		{"NoOffset", `"2026-12-20T18:00:00"`, both + `"2026-12-20T18:00:00"`},
		{"Words", `"tomorrow"`, both + `"tomorrow"`},
		{"Empty", `""`, both + `""`},
		{"Number", `20261220`, both + `20261220`},
		{"Object", `{"day":"2026-12-20"}`, both + `{"day":"2026-12-20"}`},
		{"DayEnded", `"2026-12-17"`, "expires_at: 2026-12-17 (which ends at 2026-12-17T11:00:00Z, midnight in Pacific/Auckland) is not in the future"},
		{"TimePassed", `"2026-12-18T08:00:00Z"`, "expires_at: 2026-12-18T08:00:00Z is not in the future"},
		{"DayTooFar", `"2027-06-01"`, "expires_at: at most 90 days from now (2027-03-18T09:00:00Z), not 2027-06-01 " +
			"(which ends at 2027-06-01T12:00:00Z, midnight in Pacific/Auckland)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []struct{ method, path, body string }{
				{"POST", path, `{"user_id":"` + bob + `","expires_at":` + tc.expires + `}`},
				{"PATCH", "/delegations/" + id, `{"expires_at":` + tc.expires + `}`},
				{"POST", "/delegations:bulk", `{"user_id":"` + bob + `","type":"lead","ids":["` + lead + `"],"expires_at":` + tc.expires + `}`},
			} {
				w := sdktest.Route(delegation{}, host, owner, call.method, call.path, call.body)
				var e struct {
					Error struct{ Code, Message string }
				}
				json.Unmarshal(w.Body.Bytes(), &e)
				if w.Code != http.StatusBadRequest || e.Error.Code != "invalid_expiry" || e.Error.Message != tc.want {
					t.Fatalf("%s %s: %d %s\nwant 400 invalid_expiry %s", call.method, call.path, w.Code, w.Body, tc.want)
				}
			}
		})
	}
	if g, _ := host.Grant(t.Context(), install, id); !g.ExpiresAt.Equal(time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("refused changes moved the expiry to %v", g.ExpiresAt)
	}

	// A change needs an expiry.
	for _, body := range []string{`{}`, `{"expires_at":null}`} {
		w := sdktest.Route(delegation{}, host, owner, "PATCH", "/delegations/"+id, body)
		if w.Code != http.StatusBadRequest || code(t, w.Body.String()) != "invalid_expiry" {
			t.Fatalf("%s: %d %s", body, w.Code, w.Body)
		}
	}
	// A zone the plugin does not know (a host with a newer database):
	// a day cannot be read, a time still can.
	mars := inZone(alice, "member", "Mars/Olympus_Mons", `{}`)
	if w := sdktest.Route(delegation{}, host, mars, "PATCH", "/delegations/"+id, `{"expires_at":"2026-12-20"}`); w.Code != http.StatusServiceUnavailable ||
		code(t, w.Body.String()) != "unknown_timezone" {
		t.Fatalf("a day in an unknown zone: %d %s", w.Code, w.Body)
	}
	if w := sdktest.Route(delegation{}, host, mars, "PATCH", "/delegations/"+id, `{"expires_at":"2026-12-20T10:00:00Z"}`); w.Code != http.StatusOK {
		t.Fatalf("a time in an unknown zone: %d %s", w.Code, w.Body)
	}
}
