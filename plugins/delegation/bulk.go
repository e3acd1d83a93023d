package main

import (
	"errors"
	"net/http"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// maxBulk bounds the records of one bulk delegation.
const maxBulk = 1000

func bulk(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	var body struct {
		UserID    string         `json:"user_id"`
		Type      sdk.RecordType `json:"type"`
		IDs       []string       `json:"ids"`
		OwnerID   string         `json:"owner_id"`
		ExpiresAt *expiresAt     `json:"expires_at"`
	}
	if !decode(w, r, &body, `{"user_id": "...", "type": "lead", "owner_id": "..."} or {"user_id": "...", "type": "lead", "ids": [...]}`) {
		return
	}
	if !slices.Contains(sdk.RecordTypes, body.Type) {
		answer(w, refuse(http.StatusBadRequest, "invalid_record_type", "type: unknown record type %q", body.Type))
		return
	}
	if (len(body.IDs) == 0) == (body.OwnerID == "") {
		answer(w, refuse(http.StatusBadRequest, "invalid_bulk", "name the records: ids, or owner_id for all the records a user owns"))
		return
	}
	at, err := q.until(body.ExpiresAt)
	if err == nil && at != nil {
		_, err = q.expiry(body.Type, at)
	}
	if err != nil {
		answer(w, err)
		return
	}
	u, err := q.delegateUser(body.UserID)
	if err != nil {
		answer(w, err)
		return
	}
	ids := body.IDs
	if body.OwnerID != "" {
		if ids, err = q.ownedBy(body.Type, body.OwnerID); err != nil {
			answer(w, err)
			return
		}
	}
	ids = unique(ids)
	if len(ids) > maxBulk {
		answer(w, refuse(http.StatusBadRequest, "too_many_records", "at most %d records at once, got %d", maxBulk, len(ids)))
		return
	}
	type refused struct {
		ID      string `json:"id"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	out := struct {
		Delegated []view    `json:"delegated"`
		Refused   []refused `json:"refused"`
	}{Delegated: []view{}, Refused: []refused{}}
	owners := map[string]bool{}
	for _, recID := range ids {
		rec, err := q.record(sdk.Ref{Type: body.Type, ID: recID})
		var v view
		if err == nil {
			v, _, err = q.delegate(rec, u, at, false)
		}
		if err == nil && rec.OwnerID != "" {
			owners[rec.OwnerID] = true
		}
		var f *refusal
		var he *sdk.HostError
		switch {
		case err == nil:
			out.Delegated = append(out.Delegated, v)
		case errors.As(err, &f):
			out.Refused = append(out.Refused, refused{ID: recID, Code: f.code, Message: f.message})
		case errors.As(err, &he) && he.Kind != sdk.ErrNotFound:
			out.Refused = append(out.Refused, refused{ID: recID, Code: he.Code, Message: he.Message})
		case errors.As(err, &he):
			out.Refused = append(out.Refused, refused{ID: recID, Code: "not_found", Message: "record not found"})
		default:
			// The host failed on this record: say so, go on, and let the
			// caller retry the refused ones.
			out.Refused = append(out.Refused, refused{ID: recID, Code: "host_unavailable", Message: "the host could not answer; try this record again"})
		}
	}
	if len(out.Delegated) > 0 {
		q.alertBulk(body.Type, u, out.Delegated, owners)
	}
	sdk.Reply(w, http.StatusOK, out)
}

// ownedBy lists the ids of the records of type t that owner owns and the
// caller sees.
func (q request) ownedBy(t sdk.RecordType, owner string) ([]string, error) {
	var ids []string
	for cursor := ""; ; {
		recs, next, err := q.host.Records(q.ctx, q.caller.Install.ID, sdk.RecordQuery{Type: t, OwnerID: owner, AsUserID: q.caller.User.ID, Cursor: cursor, Limit: 200})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if cursor = next; cursor == "" || len(ids) > maxBulk {
			return ids, nil
		}
	}
}
