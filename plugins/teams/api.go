package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Routes serves the team API, under /v1/plugins/teams/api/:
//
//	GET  /counts[?type=lead]      the caller's visible records per team and type
//	POST /records/{type}/move     {"from", "to", "ids"}: move records between teams (administrators)
func (teams) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", counts)
	mux.HandleFunc("POST /records/{type}/move", move)
	return mux
}

// teamCounts is one team's line of the counts.
type teamCounts struct {
	ID     string                   `json:"id,omitempty"`
	Name   string                   `json:"name,omitempty"`
	Counts map[sdk.RecordType]int64 `json:"counts"`
	Total  int64                    `json:"total"`
}

// counts answers, for each team the caller may see, how many records of
// each type (or of ?type=) the caller sees in it; records without a team
// are counted apart when the caller may see them.
func counts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller := sdk.Caller(ctx)
	s, err := parse(caller.Settings)
	if err != nil {
		sdk.Refuse(w, http.StatusServiceUnavailable, "invalid_settings", "the plugin's settings for this install cannot be read")
		return
	}
	types := sdk.RecordTypes
	if t := r.URL.Query().Get("type"); t != "" {
		if !slices.Contains(sdk.RecordTypes, sdk.RecordType(t)) {
			sdk.Refuse(w, http.StatusBadRequest, "invalid_record_type", "type: unknown record type "+t)
			return
		}
		types = []sdk.RecordType{sdk.RecordType(t)}
	}
	host := sdk.HostAPI(ctx)
	all, err := host.Teams(ctx, caller.Install.ID)
	if err != nil {
		fail(w, "invalid_request", err)
		return
	}
	cross := s.crossTeam(caller.User.Role)
	var lines []*teamCounts
	byID := map[string]*teamCounts{}
	for _, t := range all {
		if cross || slices.Contains(caller.User.Teams, t.ID) {
			line := &teamCounts{ID: t.ID, Name: t.Name, Counts: map[sdk.RecordType]int64{}}
			lines, byID[t.ID] = append(lines, line), line
		}
	}
	unteamed := &teamCounts{Counts: map[sdk.RecordType]int64{}}
	seesUnteamed := cross || s.UnteamedVisibleTo == unteamedEveryone
	if !seesUnteamed {
		if seesUnteamed, err = isAdmin(ctx, caller); err != nil {
			fail(w, "invalid_request", err)
			return
		}
	}
	if seesUnteamed {
		byID[""] = unteamed
	}
	for _, t := range types {
		for _, line := range byID {
			line.Counts[t] = 0
		}
		c, err := host.CountRecords(ctx, caller.Install.ID, sdk.RecordQuery{Type: t, AsUserID: caller.User.ID})
		if err != nil {
			fail(w, "invalid_request", err)
			return
		}
		for team, n := range c.ByTeam {
			if line, ok := byID[team]; ok { // what the caller sees is in their teams
				line.Counts[t] += n
				line.Total += n
			}
		}
	}
	out := map[string]any{"teams": nonNil(lines)}
	if _, ok := byID[""]; ok {
		out["unteamed"] = unteamed
	}
	sdk.Reply(w, http.StatusOK, out)
}

// move moves records of one type between teams: those listed in ids, or
// every record of from. Administrators only; nothing moves unless every
// listed record exists and is in from (when from is given).
func move(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller := sdk.Caller(ctx)
	t := sdk.RecordType(r.PathValue("type"))
	if !slices.Contains(sdk.RecordTypes, t) {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_record_type", "unknown record type "+string(t))
		return
	}
	admin, err := isAdmin(ctx, caller)
	if err != nil {
		fail(w, "invalid_move", err)
		return
	}
	if !admin {
		sdk.Refuse(w, http.StatusForbidden, "admin_only", "only administrators may move records between teams")
		return
	}
	var req struct {
		From string   `json:"from"`
		To   *string  `json:"to"`
		IDs  []string `json:"ids"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_json", `the body must be a JSON object like {"from": "<team id>", "to": "<team id>"} or {"ids": [...], "to": "none"}`)
		return
	}
	if req.To == nil {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_move", `to: required, a team id or "none"`)
		return
	}
	n, err := sdk.HostAPI(ctx).MoveRecordsTeam(ctx, caller.Install.ID, sdk.TeamMove{
		Type: t, IDs: req.IDs, FromTeamID: req.From, ToTeamID: *req.To, ActorID: caller.User.ID,
	})
	if err != nil {
		fail(w, "invalid_move", err)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"moved": n})
}

// isAdmin reports whether the caller's role administers the install.
func isAdmin(ctx context.Context, caller sdk.CallerInfo) (bool, error) {
	return sdk.RoleHas(ctx, caller.Install.ID, caller.User.Role, sdk.CapAdmin)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// fail answers a host API error: the host's refusal, with its code (or
// code when it gave none), or unavailable when the host could not answer.
func fail(w http.ResponseWriter, code string, err error) {
	var he *sdk.HostError
	if !errors.As(err, &he) {
		sdk.Refuse(w, http.StatusServiceUnavailable, "host_unavailable", "the host could not answer; try again")
		return
	}
	if he.Code != "" {
		code = he.Code
	}
	switch {
	case errors.Is(err, sdk.ErrForbidden):
		sdk.Refuse(w, http.StatusForbidden, code, he.Message)
	case errors.Is(err, sdk.ErrNotFound):
		sdk.Refuse(w, http.StatusNotFound, "not_found", he.Message)
	case errors.Is(err, sdk.ErrUnavailable) && he.Code != "":
		sdk.Refuse(w, http.StatusServiceUnavailable, he.Code, he.Message)
	case errors.Is(err, sdk.ErrUnavailable):
		sdk.Refuse(w, http.StatusServiceUnavailable, "host_unavailable", "the host could not answer; try again")
	default:
		sdk.Refuse(w, http.StatusBadRequest, code, he.Message)
	}
}
