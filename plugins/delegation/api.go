package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// view is a delegation as the API shows it.
type view struct {
	ID        string       `json:"id"`
	Record    sdk.Ref      `json:"record"`
	UserID    string       `json:"user_id"`
	Actions   []sdk.Action `json:"actions"`
	ExpiresAt *time.Time   `json:"expires_at"`
	State     string       `json:"state"` // active or expired
	CreatedBy string       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
}

func viewOf(g sdk.Grant, now time.Time) view {
	state := "active"
	if g.ExpiresAt != nil && !g.ExpiresAt.After(now) {
		state = "expired"
	}
	return view{ID: g.ID, Record: g.Record, UserID: g.SubjectID, Actions: g.Actions, ExpiresAt: g.ExpiresAt,
		State: state, CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt}
}

// Routes serves the delegation API, under /v1/plugins/delegation/api/:
//
//	POST   /records/{type}/{id}/delegations   {"user_id", "expires_at"?}
//	GET    /records/{type}/{id}/delegations   [?state=active|expired|all]
//	PATCH  /delegations/{id}                  {"expires_at"}
//	DELETE /delegations/{id}
//	GET    /delegations?type=&user=&state=    (administrators)
//	DELETE /delegations?type=|?ids=           (administrators: all of a type, or several)
//	DELETE /delegations?all=true[&count=]     (administrators: every one of the install)
//	POST   /delegations:bulk                  {"user_id", "type", "ids"|"owner_id", "expires_at"?}
//
// An expires_at is a time or a day, read in the install's time zone
// (dates.go).
func (delegation) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /records/{type}/{id}/delegations", createOne)
	mux.HandleFunc("GET /records/{type}/{id}/delegations", listOfRecord)
	mux.HandleFunc("PATCH /delegations/{id}", change)
	mux.HandleFunc("DELETE /delegations/{id}", remove)
	mux.HandleFunc("GET /delegations", listAll)
	mux.HandleFunc("DELETE /delegations", removeAll)
	mux.HandleFunc("POST /delegations:bulk", bulk)
	return mux
}

// request is what every route needs: the caller, the settings, the host.
type request struct {
	ctx    context.Context
	caller sdk.CallerInfo
	s      settings
	host   sdk.Host
	now    time.Time
	// isAdmin reads the caller's role once a request, however many
	// records a bulk delegation checks.
	isAdmin func() (bool, error)
}

func begin(w http.ResponseWriter, r *http.Request) (request, bool) {
	ctx := r.Context()
	caller := sdk.Caller(ctx)
	s, err := parse(caller.Settings)
	if err != nil {
		sdk.Refuse(w, http.StatusServiceUnavailable, "invalid_settings", "the plugin's settings for this install cannot be read")
		return request{}, false
	}
	// The host's clock, which grants' expiries are compared with.
	isAdmin := sync.OnceValues(func() (bool, error) {
		return sdk.RoleHas(ctx, caller.Install.ID, caller.User.Role, sdk.CapAdmin)
	})
	return request{ctx: ctx, caller: caller, s: s, host: sdk.HostAPI(ctx), now: caller.Now, isAdmin: isAdmin}, true
}

// beginAdmin is begin for the routes of administrators only.
func beginAdmin(w http.ResponseWriter, r *http.Request) (request, bool) {
	q, ok := begin(w, r)
	if !ok {
		return q, false
	}
	if err := q.admin(); err != nil {
		answer(w, err)
		return q, false
	}
	return q, true
}

// refusal is a reason not to delegate one record, for the caller.
type refusal struct {
	status  int
	code    string
	message string
}

func (f *refusal) Error() string { return f.message }

func refuse(status int, code, format string, args ...any) *refusal {
	return &refusal{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// answer writes err: a refusal as it is, a host refusal with its code,
// anything else as unavailable.
func answer(w http.ResponseWriter, err error) {
	var f *refusal
	if errors.As(err, &f) {
		sdk.Refuse(w, f.status, f.code, f.message)
		return
	}
	var he *sdk.HostError
	if errors.As(err, &he) && (he.Kind != sdk.ErrUnavailable || he.Code != "") {
		status := map[error]int{sdk.ErrNotFound: http.StatusNotFound, sdk.ErrForbidden: http.StatusForbidden,
			sdk.ErrUnavailable: http.StatusServiceUnavailable}[he.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		code := he.Code
		if code == "" {
			code = "invalid_delegation"
		}
		sdk.Refuse(w, status, code, he.Message)
		return
	}
	sdk.Refuse(w, http.StatusServiceUnavailable, "host_unavailable", "the host could not answer; try again")
}

// record reads a record the caller may see: one they may not is not
// found, like one that does not exist.
func (q request) record(ref sdk.Ref) (sdk.Record, error) {
	if !slices.Contains(sdk.RecordTypes, ref.Type) {
		return sdk.Record{}, refuse(http.StatusBadRequest, "invalid_record_type", "unknown record type %s", ref.Type)
	}
	rec, err := q.host.Record(q.ctx, q.caller.Install.ID, ref, q.caller.User.ID)
	if errors.Is(err, sdk.ErrNotFound) {
		return sdk.Record{}, refuse(http.StatusNotFound, "not_found", "record not found")
	}
	return rec, err
}

func decode(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_json", "the body must be a JSON object like "+shape)
		return false
	}
	return true
}

func stateOf(s string) (string, error) {
	switch s {
	case "":
		return "active", nil
	case "active", "expired", "all":
		return s, nil
	}
	return "", refuse(http.StatusBadRequest, "invalid_filter", `state: active, expired or all, got %q`, s)
}

func isRefusal(err error) bool {
	var f *refusal
	return errors.As(err, &f)
}

// unique is ids, each once, in their order.
func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
