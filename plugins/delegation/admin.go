package main

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmguard/crmguard/sdk"
)

// admin refuses a caller who does not administer the install.
func (q request) admin() error {
	admin, err := q.isAdmin()
	if err != nil {
		return err
	}
	if !admin {
		return refuse(http.StatusForbidden, "admin_only", "only administrators manage the install's delegations")
	}
	return nil
}

// filters reads ?type= and ?user= of the admin routes.
func filters(r *http.Request) (sdk.GrantQuery, error) {
	gq := sdk.GrantQuery{RecordType: sdk.RecordType(r.URL.Query().Get("type"))}
	if gq.RecordType != "" && !slices.Contains(sdk.RecordTypes, gq.RecordType) {
		return gq, refuse(http.StatusBadRequest, "invalid_record_type", "type: unknown record type %s", gq.RecordType)
	}
	if u := r.URL.Query().Get("user"); u != "" {
		gq.SubjectType, gq.SubjectID = sdk.SubjectUser, u
	}
	return gq, nil
}

func listAll(w http.ResponseWriter, r *http.Request) {
	q, ok := beginAdmin(w, r)
	if !ok {
		return
	}
	gq, err := filters(r)
	if err == nil {
		gq.State, err = stateOf(r.URL.Query().Get("state"))
	}
	if err != nil {
		answer(w, err)
		return
	}
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 200 {
			answer(w, refuse(http.StatusBadRequest, "invalid_filter", "limit: 1 to 200, got %q", l))
			return
		}
	}
	gq.Cursor, gq.Limit = r.URL.Query().Get("cursor"), limit
	grants, next, err := q.host.ListGrants(q.ctx, q.caller.Install.ID, gq)
	if err != nil {
		answer(w, err)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"items": q.views(grants), "next_cursor": next})
}

func removeAll(w http.ResponseWriter, r *http.Request) {
	q, ok := beginAdmin(w, r)
	if !ok {
		return
	}
	var grants []sdk.Grant
	if ids := r.URL.Query().Get("ids"); ids != "" {
		// Several by id: all of them are checked before any goes.
		for _, gid := range unique(strings.Split(ids, ",")) {
			g, err := q.host.Grant(q.ctx, q.caller.Install.ID, strings.TrimSpace(gid))
			if errors.Is(err, sdk.ErrNotFound) || errors.Is(err, sdk.ErrInvalid) {
				answer(w, refuse(http.StatusNotFound, "unknown_delegation", "no delegation %s; none was deleted", gid))
				return
			}
			if err != nil {
				answer(w, err)
				return
			}
			grants = append(grants, g)
		}
	} else {
		gq, err := filters(r)
		if err == nil && gq.RecordType == "" {
			err = refuse(http.StatusBadRequest, "invalid_filter", "type: required, the record type whose delegations go (or ids)")
		}
		if err != nil {
			answer(w, err)
			return
		}
		gq.State = "all"
		if grants, err = q.all(gq); err != nil {
			answer(w, err)
			return
		}
	}
	for _, g := range grants {
		if err := q.host.RevokeGrant(q.ctx, q.caller.Install.ID, g.ID, q.caller.User.ID); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			answer(w, err)
			return
		}
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"deleted": len(grants)})
}
