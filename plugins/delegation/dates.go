package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// expiresAt is an expires_at as a request gives it: an RFC 3339 time
// ("2026-12-20T18:00:00Z"), or a day ("2026-12-20"), which lasts until
// the midnight that ends it in the install's time zone. It keeps the JSON
// as it came, so that a wrong one is refused as an expiry (400
// invalid_expiry, naming both forms) rather than as a body of the wrong
// shape. A null is no expires_at: the field's pointer stays nil.
type expiresAt struct{ raw json.RawMessage }

func (e *expiresAt) UnmarshalJSON(b []byte) error {
	e.raw = append(json.RawMessage(nil), b...)
	return nil
}

// until is when a delegation is asked to end: the instant, and the day
// it was given as (empty for a time), for the messages that refuse it.
type until struct {
	at  time.Time
	day string
}

// until reads an expires_at in the install's time zone; nil when the
// request has none.
func (q request) until(e *expiresAt) (*until, error) {
	if e == nil {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(e.raw, &s); err != nil {
		return nil, q.badExpiry(string(e.raw))
	}
	if day, err := time.Parse(time.DateOnly, s); err == nil && len(s) == len(time.DateOnly) {
		loc, err := q.location()
		if err != nil {
			return nil, err
		}
		y, m, d := day.Date()
		return &until{at: endOfDay(y, m, d, loc), day: s}, nil
	}
	// A time as the API has always read one: json's reading of RFC 3339.
	var at time.Time
	if err := json.Unmarshal(e.raw, &at); err != nil {
		return nil, q.badExpiry(string(e.raw))
	}
	return &until{at: at}, nil
}

// badExpiry refuses an expires_at that is neither form, saying both.
func (q request) badExpiry(got string) error {
	return refuse(http.StatusBadRequest, "invalid_expiry",
		`expires_at: must be a time such as "2026-12-20T18:00:00Z" (RFC 3339, with its offset) or a day such as "2026-12-20" `+
			`(which lasts until midnight at its end in the install's time zone, %s); got %s`, q.zone(), clip(got, 40))
}

// zone is the name of the install's time zone; hosts older than the
// setting send none, and mean UTC.
func (q request) zone() string {
	if q.caller.Install.Timezone == "" {
		return "UTC"
	}
	return q.caller.Install.Timezone
}

// location is the install's time zone, from the IANA database the plugin
// embeds (main.go), so that the host's machine and the plugin's agree.
func (q request) location() (*time.Location, error) {
	loc, err := time.LoadLocation(q.zone())
	if err != nil || q.zone() == "Local" {
		return nil, refuse(http.StatusServiceUnavailable, "unknown_timezone",
			`the install's time zone %q is unknown to the delegation plugin; give expires_at as a time such as "2026-12-20T18:00:00Z"`, clip(q.zone(), 70))
	}
	return loc, nil
}

// endOfDay is the instant the day y-m-d ends in loc: the first instant
// whose date there is a later day, the next day's midnight. time.Date
// gives it, except where clocks change at midnight (Santiago, Havana,
// Beirut...): a midnight that is skipped or happens twice may come out an
// hour off, and the instant is then found by its definition, among the
// whole seconds (at which every time zone changes) of the hours around it.
func endOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	last := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // the day itself, as a date
	later := func(t time.Time) bool {
		ty, tm, td := t.In(loc).Date()
		return time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).After(last)
	}
	if end := time.Date(y, m, d+1, 0, 0, 0, 0, loc); later(end) && !later(end.Add(-time.Second)) {
		return end
	}
	// No zone is more than 14 hours from UTC, nor moves its clocks by
	// more than a few: the end lies within 30 hours of midnight in UTC.
	from := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(-30 * time.Hour)
	n := sort.Search(60*60*60, func(i int) bool { return later(from.Add(time.Duration(i) * time.Second)) })
	return from.Add(time.Duration(n) * time.Second)
}
