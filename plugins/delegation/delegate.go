package main

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// mayDelegate refuses a caller who may not delegate rec (which they see):
// a role or team the settings disable for its type; otherwise its owner,
// administrators, the delegate roles and whoever may share it (with
// strict-ownership's share roles) may.
func (q request) mayDelegate(rec sdk.Record) error {
	d := q.s.Disabled[rec.Type]
	if slices.Contains(d.Roles, q.caller.User.Role) {
		return refuse(http.StatusForbidden, "delegation_disabled", "delegation of %s records is disabled for your role", rec.Type)
	}
	for _, team := range q.caller.User.Teams {
		if slices.Contains(d.Teams, team) {
			return refuse(http.StatusForbidden, "delegation_disabled", "delegation of %s records is disabled for your team", rec.Type)
		}
	}
	if rec.OwnerID == q.caller.User.ID || slices.Contains(q.s.DelegateRoles, q.caller.User.Role) {
		return nil
	}
	if err := q.admin(); err == nil {
		return nil
	} else if !isRefusal(err) {
		return err
	}
	ok, err := q.host.Check(q.ctx, q.caller.Install.ID, q.caller.User.ID, sdk.ActionShare, sdk.Ref{Type: rec.Type, ID: rec.ID})
	if err != nil {
		return err
	}
	if !ok[0] {
		return refuse(http.StatusForbidden, "not_allowed", "you may not delegate this %s: delegate your own records, or ask its owner or an admin", rec.Type)
	}
	return nil
}

// expiry is when a delegation of type t given at now ends: at (when
// given) or after the type's default days; never past now plus max_days.
// A day given must end in the future as a time must: the end of today
// still counts, yesterday's does not.
func (q request) expiry(t sdk.RecordType, at *until) (time.Time, error) {
	if at == nil {
		return q.now.Add(time.Duration(q.s.days(t)) * 24 * time.Hour).Truncate(time.Second), nil
	}
	limit := q.now.Add(time.Duration(q.s.MaxDays) * 24 * time.Hour)
	asked := at.at.UTC().Format(time.RFC3339)
	if at.day != "" {
		asked = fmt.Sprintf("%s (which ends at %s, midnight in %s)", at.day, asked, q.zone())
	}
	switch {
	case !at.at.After(q.now):
		return time.Time{}, refuse(http.StatusBadRequest, "invalid_expiry", "expires_at: %s is not in the future", asked)
	case at.at.After(limit):
		return time.Time{}, refuse(http.StatusBadRequest, "invalid_expiry", "expires_at: at most %d days from now (%s), not %s",
			q.s.MaxDays, limit.UTC().Format(time.RFC3339), asked)
	}
	return at.at.UTC(), nil
}

// delegate gives user the settings' actions on rec until the expiry,
// after every check, and alerts the owner and the delegate. An existing
// delegation of the record to the user is changed instead.
func (q request) delegate(rec sdk.Record, delegate sdk.UserInfo, at *until, alert bool) (view, bool, error) {
	if err := q.mayDelegate(rec); err != nil {
		return view{}, false, err
	}
	if delegate.ID == rec.OwnerID {
		return view{}, false, refuse(http.StatusBadRequest, "invalid_delegate", "%s owns this %s already", delegate.DisplayName(), rec.Type)
	}
	end, err := q.expiry(rec.Type, at)
	if err != nil {
		return view{}, false, err
	}
	ref := sdk.Ref{Type: rec.Type, ID: rec.ID}
	existing, _, err := q.host.ListGrants(q.ctx, q.caller.Install.ID, sdk.GrantQuery{RecordType: rec.Type, RecordID: rec.ID,
		SubjectType: sdk.SubjectUser, SubjectID: delegate.ID, Limit: 1})
	if err != nil {
		return view{}, false, err
	}
	var g sdk.Grant
	created := len(existing) == 0
	if created {
		g, err = q.host.CreateGrant(q.ctx, q.caller.Install.ID, sdk.NewGrant{Record: ref, SubjectType: sdk.SubjectUser, SubjectID: delegate.ID,
			Actions: q.s.Actions, ExpiresAt: &end, ActorID: q.caller.User.ID})
	} else {
		g, err = q.host.UpdateGrant(q.ctx, q.caller.Install.ID, existing[0].ID, sdk.GrantChange{Actions: q.s.Actions, SetExpiry: true, ExpiresAt: &end, ActorID: q.caller.User.ID})
	}
	if err != nil {
		return view{}, false, err
	}
	if alert {
		q.alert(rec, delegate, end)
	}
	return viewOf(g, q.now), created, nil
}

// delegateUser reads the user a delegation is for, in the caller's install.
func (q request) delegateUser(userID string) (sdk.UserInfo, error) {
	if userID == "" {
		return sdk.UserInfo{}, refuse(http.StatusBadRequest, "invalid_delegate", "user_id: required, the user to delegate to")
	}
	u, err := q.host.User(q.ctx, q.caller.Install.ID, userID)
	if errors.Is(err, sdk.ErrNotFound) || errors.Is(err, sdk.ErrInvalid) {
		return sdk.UserInfo{}, refuse(http.StatusBadRequest, "unknown_user", "user_id: no user %s in this install", userID)
	}
	return u, err
}
