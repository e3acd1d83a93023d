package main

import (
	"errors"
	"net/http"

	"github.com/crmguard/crmguard/sdk"
)

func createOne(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	var body struct {
		UserID    string     `json:"user_id"`
		ExpiresAt *expiresAt `json:"expires_at"`
	}
	if !decode(w, r, &body, `{"user_id": "...", "expires_at": "2027-01-31T18:00:00Z" or "2027-01-31"}`) {
		return
	}
	at, err := q.until(body.ExpiresAt)
	if err != nil {
		answer(w, err)
		return
	}
	rec, err := q.record(sdk.Ref{Type: sdk.RecordType(r.PathValue("type")), ID: r.PathValue("id")})
	if err != nil {
		answer(w, err)
		return
	}
	u, err := q.delegateUser(body.UserID)
	if err != nil {
		answer(w, err)
		return
	}
	v, created, err := q.delegate(rec, u, at, true)
	if err != nil {
		answer(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	sdk.Reply(w, status, v)
}

func listOfRecord(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	rec, err := q.record(sdk.Ref{Type: sdk.RecordType(r.PathValue("type")), ID: r.PathValue("id")})
	if err != nil {
		answer(w, err)
		return
	}
	state, err := stateOf(r.URL.Query().Get("state"))
	if err != nil {
		answer(w, err)
		return
	}
	grants, err := q.all(sdk.GrantQuery{RecordType: rec.Type, RecordID: rec.ID, State: state})
	if err != nil {
		answer(w, err)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"items": q.views(grants)})
}

// views are delegations as the API shows them.
func (q request) views(grants []sdk.Grant) []view {
	out := make([]view, len(grants))
	for i, g := range grants {
		out[i] = viewOf(g, q.now)
	}
	return out
}

// delegation reads one of the plugin's delegations with its record, which
// the caller must see, and checks they may change it: whoever may
// delegate the record, or (removal only) the delegate.
func (q request) delegation(grantID string, removing bool) (sdk.Grant, error) {
	g, err := q.host.Grant(q.ctx, q.caller.Install.ID, grantID)
	if errors.Is(err, sdk.ErrNotFound) || errors.Is(err, sdk.ErrInvalid) {
		return sdk.Grant{}, refuse(http.StatusNotFound, "unknown_delegation", "no such delegation")
	}
	if err != nil {
		return sdk.Grant{}, err
	}
	rec, err := q.record(g.Record)
	if err != nil {
		return sdk.Grant{}, refuse(http.StatusNotFound, "unknown_delegation", "no such delegation")
	}
	if removing && g.SubjectID == q.caller.User.ID {
		return g, nil // a delegate may hand a delegation back
	}
	if err := q.mayDelegate(rec); err != nil {
		return sdk.Grant{}, err
	}
	return g, nil
}

// all reads every page of the plugin's delegations that gq selects.
func (q request) all(gq sdk.GrantQuery) ([]sdk.Grant, error) {
	var out []sdk.Grant
	gq.Limit = 200
	for {
		grants, next, err := q.host.ListGrants(q.ctx, q.caller.Install.ID, gq)
		if err != nil {
			return nil, err
		}
		out = append(out, grants...)
		if next == "" {
			return out, nil
		}
		gq.Cursor = next
	}
}

func change(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	var body struct {
		ExpiresAt *expiresAt `json:"expires_at"`
	}
	if !decode(w, r, &body, `{"expires_at": "2027-01-31T18:00:00Z" or "2027-01-31"}`) {
		return
	}
	at, err := q.until(body.ExpiresAt)
	if err == nil && at == nil {
		err = refuse(http.StatusBadRequest, "invalid_expiry", `expires_at: required, a time such as "2027-01-31T18:00:00Z" or a day such as "2027-01-31"`)
	}
	if err != nil {
		answer(w, err)
		return
	}
	g, err := q.delegation(r.PathValue("id"), false)
	if err != nil {
		answer(w, err)
		return
	}
	if g.ExpiresAt != nil && !g.ExpiresAt.After(q.now) {
		answer(w, refuse(http.StatusConflict, "delegation_expired", "this delegation has expired; delegate the record again"))
		return
	}
	end, err := q.expiry(g.Record.Type, at)
	if err != nil {
		answer(w, err)
		return
	}
	g, err = q.host.UpdateGrant(q.ctx, q.caller.Install.ID, g.ID, sdk.GrantChange{SetExpiry: true, ExpiresAt: &end, ActorID: q.caller.User.ID})
	if err != nil {
		answer(w, err)
		return
	}
	sdk.Reply(w, http.StatusOK, viewOf(g, q.now))
}

func remove(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	g, err := q.delegation(r.PathValue("id"), true)
	if err != nil {
		answer(w, err)
		return
	}
	if err := q.host.RevokeGrant(q.ctx, q.caller.Install.ID, g.ID, q.caller.User.ID); err != nil {
		answer(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
