package main

import (
	"errors"
	"iter"
	"net/http"
	"net/url"
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
	query := r.URL.Query()
	if query.Has("all") {
		removeEvery(w, q, query)
		return
	}
	var grants []sdk.Grant
	if ids := query.Get("ids"); ids != "" {
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
			err = refuse(http.StatusBadRequest, "invalid_filter", "say which delegations go: ids=a,b; type=lead (and user=); "+
				"or all=true for every delegation of the install, with count=N to delete them only if there are N")
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

// page is how many delegations the install-wide routes read at once.
const page = 200

// removeEvery deletes every delegation of the install, active and
// expired (?all=true), a page at a time, each revocation audited on its
// record as a single one is and, like one, alerting nobody. With
// ?count=N it first counts them, and deletes nothing unless there are N;
// it then deletes only those it counted, not one given meanwhile.
func removeEvery(w http.ResponseWriter, q request, query url.Values) {
	if query.Get("all") != "true" {
		answer(w, refuse(http.StatusBadRequest, "invalid_filter", "all: must be true, to delete every delegation of the install "+
			"(all=true, and count=N to delete them only if there are N), got %q", clip(query.Get("all"), 40)))
		return
	}
	for _, other := range []string{"ids", "type", "user"} {
		if query.Has(other) {
			answer(w, refuse(http.StatusBadRequest, "invalid_filter", "all=true deletes every delegation of the install: leave out %s", other))
			return
		}
	}
	last := "" // with a count: the last delegation counted
	if c := query.Get("count"); query.Has("count") {
		want, err := strconv.Atoi(c)
		if err != nil || want < 0 || strconv.Itoa(want) != c {
			answer(w, refuse(http.StatusBadRequest, "invalid_filter", "count: must be a whole number, how many delegations you expect the install to have, got %q", clip(c, 40)))
			return
		}
		n := 0
		for g, err := range q.every() {
			if err != nil {
				answer(w, err)
				return
			}
			n, last = n+1, g.ID
		}
		if n != want {
			answer(w, refuse(http.StatusConflict, "count_mismatch", "the install has %d %s, not %d; none was deleted. "+
				"List them with GET /delegations?state=all, then confirm with count=%d", n, plural(n, "delegation"), want, n))
			return
		}
	}
	deleted := 0
	for g, err := range q.every() {
		if err == nil && query.Has("count") && g.ID > last {
			break // given after the count: not confirmed
		}
		if err == nil {
			err = q.host.RevokeGrant(q.ctx, q.caller.Install.ID, g.ID, q.caller.User.ID)
			if errors.Is(err, sdk.ErrNotFound) {
				continue // removed meanwhile
			}
		}
		switch {
		case err != nil && deleted == 0:
			answer(w, err)
			return
		case err != nil:
			answer(w, refuse(http.StatusServiceUnavailable, "host_unavailable",
				"the host failed after %d %s were deleted; send the call again (without count) to delete the rest", deleted, plural(deleted, "delegation")))
			return
		}
		deleted++
	}
	sdk.Reply(w, http.StatusOK, map[string]any{"deleted": deleted})
}

// every yields the install's delegations, active and expired, in the
// order they were given, reading a page at a time: never all at once.
// After an error it yields nothing more.
func (q request) every() iter.Seq2[sdk.Grant, error] {
	return func(yield func(sdk.Grant, error) bool) {
		gq := sdk.GrantQuery{State: "all", Limit: page}
		for {
			grants, next, err := q.host.ListGrants(q.ctx, q.caller.Install.ID, gq)
			if err != nil {
				yield(sdk.Grant{}, err)
				return
			}
			for _, g := range grants {
				if !yield(g, nil) {
					return
				}
			}
			if next == "" || len(grants) == 0 {
				return
			}
			gq.Cursor = next
		}
	}
}

// plural is noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
