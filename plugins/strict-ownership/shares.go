package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
//	PATCH  .../shares/{share_id}   {"access": "view"|"view+edit"}
//	DELETE .../shares/{share_id}
//
// Whoever may see the record sees its shares; whoever may share it
// (share_roles) changes them. A record the caller may not see is not found.
// A record has at most one share per user or team: a POST for one that
// has a share changes its access.
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
		if !decode(w, r, &req, "the body must be a JSON object with user_id or team_id, and access") {
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
		if g.Actions, ok = actionsOf(w, req.Access); !ok {
			return
		}
		host := sdk.HostAPI(ctx)
		unlock, err := lockShares(ctx, host, in.ID, ref)
		if err != nil {
			fail(w, err)
			return
		}
		defer unlock()
		// Under the lock, no other request adds a share to the record
		// between this look and the write: one share per subject.
		had, _, err := host.ListGrants(ctx, in.ID, sdk.GrantQuery{RecordType: ref.Type, RecordID: ref.ID, SubjectType: g.SubjectType, SubjectID: g.SubjectID, Limit: 1})
		if err != nil {
			fail(w, err)
			return
		}
		if len(had) > 0 {
			changed, err := setAccess(ctx, host, in.ID, had[0], req.Access)
			if err != nil {
				fail(w, err)
				return
			}
			sdk.Reply(w, http.StatusOK, shareOf(changed))
			return
		}
		created, err := host.CreateGrant(ctx, in.ID, g)
		if err != nil {
			fail(w, err)
			return
		}
		sdk.Reply(w, http.StatusCreated, shareOf(created))
	})
	mux.HandleFunc("PATCH /records/{type}/{id}/shares/{share}", func(w http.ResponseWriter, r *http.Request) {
		ctx, in, ref, ok := recordOf(w, r, sdk.ActionShare)
		if !ok {
			return
		}
		var req struct {
			Access string `json:"access"`
		}
		if !decode(w, r, &req, `the body must be a JSON object with access, "view" or "view+edit"`) {
			return
		}
		if _, ok := actionsOf(w, req.Access); !ok {
			return
		}
		host := sdk.HostAPI(ctx)
		unlock, err := lockShares(ctx, host, in.ID, ref)
		if err != nil {
			fail(w, err)
			return
		}
		defer unlock()
		g, ok := shareOn(ctx, w, host, in.ID, ref, r.PathValue("share"))
		if !ok {
			return
		}
		changed, err := setAccess(ctx, host, in.ID, g, req.Access)
		if err != nil {
			fail(w, err)
			return
		}
		sdk.Reply(w, http.StatusOK, shareOf(changed))
	})
	mux.HandleFunc("DELETE /records/{type}/{id}/shares/{share}", func(w http.ResponseWriter, r *http.Request) {
		ctx, in, ref, ok := recordOf(w, r, sdk.ActionShare)
		if !ok {
			return
		}
		host := sdk.HostAPI(ctx)
		unlock, err := lockShares(ctx, host, in.ID, ref)
		if err != nil {
			fail(w, err)
			return
		}
		defer unlock()
		g, ok := shareOn(ctx, w, host, in.ID, ref, r.PathValue("share"))
		if !ok {
			return
		}
		if err := host.RevokeGrant(ctx, in.ID, g.ID, sdk.Caller(ctx).User.ID); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// decode reads a request's JSON body into v, or answers 400 with what the
// body must be.
func decode(w http.ResponseWriter, r *http.Request, v any, must string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_json", must)
		return false
	}
	return true
}

// actionsOf are the actions of a share's access, or a 400 for an access
// there is none of.
func actionsOf(w http.ResponseWriter, access string) ([]sdk.Action, bool) {
	switch access {
	case accessView:
		return []sdk.Action{sdk.ActionView}, true
	case accessViewEdit:
		return []sdk.Action{sdk.ActionView, sdk.ActionEdit}, true
	}
	sdk.Refuse(w, http.StatusBadRequest, "invalid_share", `access: must be "view" or "view+edit"`)
	return nil, false
}

// setAccess gives share g the access named, and returns it as it is then.
// A share that has it already is left alone (nothing to audit).
func setAccess(ctx context.Context, host sdk.Host, installID string, g sdk.Grant, access string) (sdk.Grant, error) {
	if shareOf(g).Access == access {
		return g, nil
	}
	actions := []sdk.Action{sdk.ActionView}
	if access == accessViewEdit {
		actions = append(actions, sdk.ActionEdit)
	}
	return host.UpdateGrant(ctx, installID, g.ID, sdk.GrantChange{Actions: actions, ActorID: sdk.Caller(ctx).User.ID})
}

// shareOn reads share id of the record ref, or answers 404 for an id that
// names no share of it (another record's included).
func shareOn(ctx context.Context, w http.ResponseWriter, host sdk.Host, installID string, ref sdk.Ref, id string) (sdk.Grant, bool) {
	g, err := host.Grant(ctx, installID, id)
	switch {
	case errors.Is(err, sdk.ErrNotFound), errors.Is(err, sdk.ErrInvalid), err == nil && g.Record != ref:
		sdk.Refuse(w, http.StatusNotFound, "unknown_share", "no such share on this record")
		return sdk.Grant{}, false
	case err != nil:
		fail(w, err)
		return sdk.Grant{}, false
	}
	return g, true
}

// How long a record's share lock is held at most, should its holder die
// with it, and how long a request waits for it.
const (
	shareLockTTL  = 10 * time.Second
	shareLockWait = 4 * time.Second
)

// errSharesBusy is a request that could not take a record's share lock
// in time: 409, to be tried again.
var errSharesBusy = errors.New("the shares of this record are being changed by another request; try again")

// lockShares takes the share lock of record ref: a key of the plugin's KV
// store written only if it is absent (compare-and-set), so that changes
// to a record's shares, from any replica, run one after another. The
// returned func releases it.
func lockShares(ctx context.Context, host sdk.Host, installID string, ref sdk.Ref) (func(), error) {
	key := "shares-lock:" + string(ref.Type) + ":" + ref.ID
	absent := int64(0)
	wait := time.NewTimer(shareLockWait)
	defer wait.Stop()
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		version, stored, err := host.KVSet(ctx, installID, key, nil, sdk.KVSetOptions{IfVersion: &absent, TTL: shareLockTTL})
		if err != nil {
			return nil, err
		}
		if stored {
			return func() {
				// Not the request's context: its end must not keep the lock.
				ctx := context.WithoutCancel(ctx)
				if v, found, err := host.KVGet(ctx, installID, key); err == nil && found && v.Version == version {
					host.KVDelete(ctx, installID, key) // if this fails, the lock expires
				}
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, errSharesBusy
		case <-wait.C:
			return nil, errSharesBusy
		case <-time.After(pause + time.Duration(rand.Int64N(int64(pause)))):
		}
	}
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
	case errors.Is(err, errSharesBusy):
		sdk.Refuse(w, http.StatusConflict, "shares_busy", err.Error())
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
