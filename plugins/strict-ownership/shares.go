package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// The access a share gives.
const (
	accessView     = "view"
	accessViewEdit = "view+edit"
)

// share is a grant of this plugin as the API shows it.
type share struct {
	ID        string    `json:"id"`
	Record    sdk.Ref   `json:"record"`
	UserID    string    `json:"user_id,omitempty"`
	TeamID    string    `json:"team_id,omitempty"`
	Access    string    `json:"access"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

func shareOf(g sdk.Grant) share {
	s := share{ID: g.ID, Record: g.Record, Access: accessView, CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt}
	if slices.Contains(g.Actions, sdk.ActionEdit) {
		s.Access = accessViewEdit
	}
	if g.SubjectType == sdk.SubjectTeam {
		s.TeamID = g.SubjectID
	} else {
		s.UserID = g.SubjectID
	}
	return s
}

// Routes serves the shares of one record, under
// /v1/plugins/strict-ownership/api/records/{type}/{id}/shares:
//
//	POST   .../shares              {"user_id"|"team_id", "access": "view"|"view+edit"}
//	GET    .../shares
//	DELETE .../shares/{share_id}
//
// Whoever may see the record sees its shares; whoever may share it
// (share_roles) changes them. A record the caller may not see is not found.
func (strictOwnership) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /records/{type}/{id}/shares", func(w http.ResponseWriter, r *http.Request) {
		ctx, in, ref, ok := recordOf(w, r, sdk.ActionView)
		if !ok {
			return
		}
		out := []share{}
		for cursor := ""; ; {
			grants, next, err := sdk.HostAPI(ctx).ListGrants(ctx, in.ID, sdk.GrantQuery{RecordType: ref.Type, RecordID: ref.ID, Cursor: cursor, Limit: 200})
			if err != nil {
				fail(w, err)
				return
			}
			for _, g := range grants {
				out = append(out, shareOf(g))
			}
			if cursor = next; cursor == "" {
				break
			}
		}
		sdk.Reply(w, http.StatusOK, map[string]any{"items": out})
	})
	mux.HandleFunc("POST /records/{type}/{id}/shares", func(w http.ResponseWriter, r *http.Request) {
		ctx, in, ref, ok := recordOf(w, r, sdk.ActionShare)
		if !ok {
			return
		}
		var req struct {
			UserID string `json:"user_id"`
			TeamID string `json:"team_id"`
			Access string `json:"access"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			sdk.Refuse(w, http.StatusBadRequest, "invalid_json", "the body must be a JSON object with user_id or team_id, and access")
			return
		}
		g := sdk.NewGrant{Record: ref, ActorID: sdk.Caller(ctx).User.ID}
		switch {
		case (req.UserID == "") == (req.TeamID == ""):
			sdk.Refuse(w, http.StatusBadRequest, "invalid_share", "name one user (user_id) or one team (team_id) to share with")
			return
		case req.UserID != "":
			g.SubjectType, g.SubjectID = sdk.SubjectUser, req.UserID
		default:
			g.SubjectType, g.SubjectID = sdk.SubjectTeam, req.TeamID
		}
		switch req.Access {
		case accessView:
			g.Actions = []sdk.Action{sdk.ActionView}
		case accessViewEdit:
			g.Actions = []sdk.Action{sdk.ActionView, sdk.ActionEdit}
		default:
			sdk.Refuse(w, http.StatusBadRequest, "invalid_share", `access: must be "view" or "view+edit"`)
			return
		}
		created, err := sdk.HostAPI(ctx).CreateGrant(ctx, in.ID, g)
		if err != nil {
			fail(w, err)
			return
		}
		sdk.Reply(w, http.StatusCreated, shareOf(created))
	})
	mux.HandleFunc("DELETE /records/{type}/{id}/shares/{share}", func(w http.ResponseWriter, r *http.Request) {
		ctx, in, ref, ok := recordOf(w, r, sdk.ActionShare)
		if !ok {
			return
		}
		host := sdk.HostAPI(ctx)
		grants, _, err := host.ListGrants(ctx, in.ID, sdk.GrantQuery{RecordType: ref.Type, RecordID: ref.ID, State: "all", Limit: 200})
		if err != nil {
			fail(w, err)
			return
		}
		if !slices.ContainsFunc(grants, func(g sdk.Grant) bool { return g.ID == r.PathValue("share") }) {
			sdk.Refuse(w, http.StatusNotFound, "unknown_share", "no such share on this record")
			return
		}
		if err := host.RevokeGrant(ctx, in.ID, r.PathValue("share"), sdk.Caller(ctx).User.ID); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// recordOf reads the record a request is about and checks that the caller
// may take action on it: a record the caller may not see is not found,
// like one that does not exist; one they see but may not act on is
// forbidden.
func recordOf(w http.ResponseWriter, r *http.Request, action sdk.Action) (context.Context, sdk.Install, sdk.Ref, bool) {
	ctx := r.Context()
	caller := sdk.Caller(ctx)
	ref := sdk.Ref{Type: sdk.RecordType(r.PathValue("type")), ID: r.PathValue("id")}
	if !slices.Contains(sdk.RecordTypes, ref.Type) {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_record_type", "unknown record type "+string(ref.Type))
		return nil, sdk.Install{}, ref, false
	}
	host := sdk.HostAPI(ctx)
	allowed, err := host.Check(ctx, caller.Install.ID, caller.User.ID, sdk.ActionView, ref)
	if errors.Is(err, sdk.ErrInvalid) { // the id, the one input of the check
		sdk.Refuse(w, http.StatusBadRequest, "invalid_id", fmt.Sprintf("id: %q is not a record id", ref.ID))
		return nil, sdk.Install{}, ref, false
	}
	if err != nil {
		fail(w, err)
		return nil, sdk.Install{}, ref, false
	}
	if !allowed[0] {
		sdk.Refuse(w, http.StatusNotFound, "not_found", "record not found")
		return nil, sdk.Install{}, ref, false
	}
	if action != sdk.ActionView {
		if allowed, err = host.Check(ctx, caller.Install.ID, caller.User.ID, action, ref); err != nil {
			fail(w, err)
			return nil, sdk.Install{}, ref, false
		}
		if !allowed[0] {
			sdk.Refuse(w, http.StatusForbidden, "not_allowed", "your role may not share this record")
			return nil, sdk.Install{}, ref, false
		}
	}
	return ctx, caller.Install, ref, true
}

// fail answers a host API error: the caller's input when the host refused
// it, unavailable otherwise.
func fail(w http.ResponseWriter, err error) {
	var he *sdk.HostError
	switch {
	case errors.As(err, &he) && he.Kind == sdk.ErrUnavailable && he.Code != "":
		sdk.Refuse(w, http.StatusServiceUnavailable, he.Code, he.Message) // e.g. cache_unavailable: nothing was done
	case errors.Is(err, sdk.ErrInvalid):
		sdk.Refuse(w, http.StatusBadRequest, "invalid_share", strings.TrimPrefix(err.Error(), sdk.ErrInvalid.Error()+": "))
	case errors.Is(err, sdk.ErrNotFound):
		sdk.Refuse(w, http.StatusNotFound, "not_found", strings.TrimPrefix(err.Error(), sdk.ErrNotFound.Error()+": "))
	default:
		sdk.Refuse(w, http.StatusServiceUnavailable, "host_unavailable", "the host could not answer; try again")
	}
}
