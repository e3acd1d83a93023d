package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
//	POST   /delegations:bulk                  {"user_id", "type", "ids"|"owner_id", "expires_at"?}
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
	if errors.As(err, &he) {
		status := map[error]int{sdk.ErrNotFound: http.StatusNotFound, sdk.ErrForbidden: http.StatusForbidden}[he.Kind]
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
func (q request) expiry(t sdk.RecordType, at *time.Time) (time.Time, error) {
	if at == nil {
		return q.now.Add(time.Duration(q.s.days(t)) * 24 * time.Hour).Truncate(time.Second), nil
	}
	limit := q.now.Add(time.Duration(q.s.MaxDays) * 24 * time.Hour)
	switch {
	case !at.After(q.now):
		return time.Time{}, refuse(http.StatusBadRequest, "invalid_expiry", "expires_at: %s is not in the future", at.UTC().Format(time.RFC3339))
	case at.After(limit):
		return time.Time{}, refuse(http.StatusBadRequest, "invalid_expiry", "expires_at: at most %d days from now (%s)", q.s.MaxDays, limit.Format(time.RFC3339))
	}
	return at.UTC(), nil
}

// delegate gives user the settings' actions on rec until the expiry,
// after every check, and alerts the owner and the delegate. An existing
// delegation of the record to the user is changed instead.
func (q request) delegate(rec sdk.Record, delegate sdk.UserInfo, at *time.Time, alert bool) (view, bool, error) {
	if err := q.mayDelegate(rec); err != nil {
		return view{}, false, err
	}
	if delegate.ID == rec.OwnerID {
		return view{}, false, refuse(http.StatusBadRequest, "invalid_delegate", "%s owns this %s already", nameOf(delegate), rec.Type)
	}
	until, err := q.expiry(rec.Type, at)
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
			Actions: q.s.Actions, ExpiresAt: &until, ActorID: q.caller.User.ID})
	} else {
		g, err = q.host.UpdateGrant(q.ctx, q.caller.Install.ID, existing[0].ID, sdk.GrantChange{Actions: q.s.Actions, SetExpiry: true, ExpiresAt: &until, ActorID: q.caller.User.ID})
	}
	if err != nil {
		return view{}, false, err
	}
	if alert {
		q.alert(rec, delegate, until)
	}
	return viewOf(g, q.now), created, nil
}

// alert e-mails the record's owner and the delegate.
func (q request) alert(rec sdk.Record, delegate sdk.UserInfo, until time.Time) {
	to := []string{delegate.ID}
	if rec.OwnerID != "" && rec.OwnerID != delegate.ID {
		to = append(to, rec.OwnerID)
	}
	name, _ := rec.Data["name"].(string)
	if name == "" {
		name = rec.ID
	}
	q.notify(to,
		fmt.Sprintf("%s %q is delegated to %s until %s", rec.Type, clip(name, 80), clip(nameOf(delegate), 60), until.Format(time.RFC3339)),
		fmt.Sprintf("%s delegated %s %q (%s) to %s, who may %s it until %s.",
			nameOf(sdk.UserInfo{ID: q.caller.User.ID, Name: q.caller.User.Name, Email: q.caller.User.Email}), rec.Type, clip(name, 1000), rec.ID,
			nameOf(delegate), q.s.verbs(), until.Format(time.RFC3339)))
}

// notify e-mails users, at most maxRecipients a message (the host's bound).
// A failure to alert is not a failure to delegate, and is not retried.
func (q request) notify(to []string, subject, body string) {
	for len(to) > 0 {
		n := min(len(to), maxRecipients)
		_ = q.host.Notify(q.ctx, q.caller.Install.ID, sdk.Notification{UserIDs: to[:n], Subject: subject, Body: body})
		to = to[n:]
	}
}

// maxRecipients is the most users the host e-mails in one notification.
const maxRecipients = 200

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// verbs says what a delegation lets the delegate do.
func (s settings) verbs() string {
	if slices.Contains(s.Actions, sdk.ActionEdit) {
		return "view and edit"
	}
	return "view"
}

func nameOf(u sdk.UserInfo) string {
	switch {
	case u.Name != "":
		return u.Name
	case u.Email != "":
		return u.Email
	}
	return "user " + u.ID
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

func decode(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		sdk.Refuse(w, http.StatusBadRequest, "invalid_json", "the body must be a JSON object like "+shape)
		return false
	}
	return true
}

func createOne(w http.ResponseWriter, r *http.Request) {
	q, ok := begin(w, r)
	if !ok {
		return
	}
	var body struct {
		UserID    string     `json:"user_id"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if !decode(w, r, &body, `{"user_id": "...", "expires_at": "2027-01-31T18:00:00Z"}`) {
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
	v, created, err := q.delegate(rec, u, body.ExpiresAt, true)
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
	items, _, err := q.list(sdk.GrantQuery{RecordType: rec.Type, RecordID: rec.ID, State: state}, 0)
	if err != nil {
		answer(w, err)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"items": items})
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

// list reads delegations, every page when limit is 0.
func (q request) list(gq sdk.GrantQuery, limit int) ([]view, string, error) {
	out := []view{}
	gq.Limit = 200
	if limit > 0 {
		gq.Limit = limit
	}
	for {
		grants, next, err := q.host.ListGrants(q.ctx, q.caller.Install.ID, gq)
		if err != nil {
			return nil, "", err
		}
		for _, g := range grants {
			out = append(out, viewOf(g, q.now))
		}
		if next == "" || limit > 0 {
			return out, next, nil
		}
		gq.Cursor = next
	}
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
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if !decode(w, r, &body, `{"expires_at": "2027-01-31T18:00:00Z"}`) {
		return
	}
	if body.ExpiresAt == nil {
		answer(w, refuse(http.StatusBadRequest, "invalid_expiry", "expires_at: required"))
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
	until, err := q.expiry(g.Record.Type, body.ExpiresAt)
	if err != nil {
		answer(w, err)
		return
	}
	g, err = q.host.UpdateGrant(q.ctx, q.caller.Install.ID, g.ID, sdk.GrantChange{SetExpiry: true, ExpiresAt: &until, ActorID: q.caller.User.ID})
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
	gq.Cursor = r.URL.Query().Get("cursor")
	items, next, err := q.list(gq, limit)
	if err != nil {
		answer(w, err)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
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
		ExpiresAt *time.Time     `json:"expires_at"`
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
	if body.ExpiresAt != nil {
		if _, err := q.expiry(body.Type, body.ExpiresAt); err != nil {
			answer(w, err)
			return
		}
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
			v, _, err = q.delegate(rec, u, body.ExpiresAt, false)
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

// alertBulk e-mails once, to the delegate and each owner, what a bulk
// delegation delegated: one message, not one per record.
func (q request) alertBulk(t sdk.RecordType, delegate sdk.UserInfo, delegated []view, owners map[string]bool) {
	to := []string{delegate.ID}
	for owner := range owners {
		if owner != delegate.ID {
			to = append(to, owner)
		}
	}
	slices.Sort(to[1:])
	until := delegated[0].ExpiresAt.Format(time.RFC3339)
	const listed = 200 // the body stays well within the host's bound
	var lines []string
	for _, v := range delegated[:min(len(delegated), listed)] {
		lines = append(lines, fmt.Sprintf("- %s %s, until %s", t, v.Record.ID, v.ExpiresAt.Format(time.RFC3339)))
	}
	if len(delegated) > listed {
		lines = append(lines, fmt.Sprintf("- and %d more", len(delegated)-listed))
	}
	what := fmt.Sprintf("%d %s records are", len(delegated), t)
	if len(delegated) == 1 {
		what = fmt.Sprintf("1 %s record is", t)
	}
	q.notify(to,
		fmt.Sprintf("%s delegated to %s until %s", what, clip(nameOf(delegate), 60), until),
		fmt.Sprintf("%s delegated these records to %s, who may %s them:\n%s",
			nameOf(sdk.UserInfo{ID: q.caller.User.ID, Name: q.caller.User.Name, Email: q.caller.User.Email}), nameOf(delegate), q.s.verbs(),
			strings.Join(lines, "\n")))
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
