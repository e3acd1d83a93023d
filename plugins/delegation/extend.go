package main

import (
	"context"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// AfterWrite extends a delegation when its delegate sets the record's
// expiry date (the settings' expiry_field) past it: to that date plus
// extension_days, never past max_days from now. Moving the date earlier,
// or removing it, leaves the delegation as it is; only a change through
// the API shortens one.
func (delegation) AfterWrite(ctx context.Context, e sdk.WriteEvent) error {
	s, err := parse(e.Settings)
	if err != nil || s.ExpiryField == "" || e.Operation != sdk.OpUpdate || e.After == nil || e.User.ID == "" {
		return err
	}
	date, ok := dateOf(e.After.Data[s.ExpiryField])
	if !ok || (e.Before != nil && sameDate(e.Before.Data[s.ExpiryField], date)) {
		return nil
	}
	host := sdk.HostAPI(ctx)
	grants, _, err := host.ListGrants(ctx, e.Install.ID, sdk.GrantQuery{RecordType: e.After.Type, RecordID: e.After.ID,
		SubjectType: sdk.SubjectUser, SubjectID: e.User.ID, Limit: 1})
	if err != nil || len(grants) == 0 {
		return err // not a delegate's edit
	}
	g := grants[0]
	until := date.Add(time.Duration(s.ExtensionDays) * 24 * time.Hour)
	if limit := e.At.Add(time.Duration(s.MaxDays) * 24 * time.Hour); until.After(limit) { // e.At: the host's clock
		until = limit.Truncate(time.Second)
	}
	if g.ExpiresAt == nil || !until.After(*g.ExpiresAt) {
		return nil // extensions only extend
	}
	_, err = host.UpdateGrant(ctx, e.Install.ID, g.ID, sdk.GrantChange{SetExpiry: true, ExpiresAt: &until, ActorID: e.User.ID})
	return err
}

// dateOf reads a date field: an RFC 3339 time or a day (2027-01-31, the
// end of which counts).
func dateOf(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), true
	}
	return time.Time{}, false
}

func sameDate(v any, t time.Time) bool {
	d, ok := dateOf(v)
	return ok && d.Equal(t)
}
