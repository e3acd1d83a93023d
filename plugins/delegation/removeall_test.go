package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// pagingHost is the fake host listing grants a page at a time, after a
// cursor, as the real one does; it keeps the most grants asked for at
// once, and can act once a listing has reached the end.
type pagingHost struct {
	*sdktest.Host
	largest   int
	atTheEnd  func() // called once, after the first listing that reaches the end
	revokedBy map[string]int
}

func (h *pagingHost) ListGrants(ctx context.Context, installID string, q sdk.GrantQuery) ([]sdk.Grant, string, error) {
	limit, cursor := q.Limit, q.Cursor
	q.Limit, q.Cursor = 0, ""
	all, _, err := h.Host.ListGrants(ctx, installID, q)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 200 {
		return nil, "", fmt.Errorf("limit %d: the host's pages are 1 to 200", limit)
	}
	h.largest = max(h.largest, limit)
	all = all[sort.Search(len(all), func(i int) bool { return all[i].ID > cursor }):]
	if len(all) > limit {
		return all[:limit], all[limit-1].ID, nil
	}
	if f := h.atTheEnd; f != nil {
		h.atTheEnd = nil
		f()
	}
	return all, "", nil
}

func (h *pagingHost) RevokeGrant(ctx context.Context, installID, grantID, actorID string) error {
	if err := h.Host.RevokeGrant(ctx, installID, grantID, actorID); err != nil {
		return err
	}
	h.revokedBy[actorID]++
	return nil
}

// TestAdminDeletesAll: DELETE /delegations?all=true deletes every
// delegation of the install, active and expired, a page at a time, each
// revoked by the admin and nobody alerted; without all=true it says how
// to confirm; with count=N it deletes nothing unless the install has N
// (409 count_mismatch naming the number), and then only those it
// counted; members are refused; other installs keep theirs.
func TestAdminDeletesAll(t *testing.T) {
	const other = "01J000000000000000000000AD"
	inner := newHost(`{}`)
	now := time.Now()
	inner.Now = func() time.Time { return now }
	host := &pagingHost{Host: inner, revokedBy: map[string]int{}}
	give := func(installID, recID string, expires time.Time) string {
		t.Helper()
		g, err := inner.CreateGrant(t.Context(), installID, sdk.NewGrant{Record: sdk.Ref{Type: sdk.TypeLead, ID: recID},
			SubjectType: sdk.SubjectUser, SubjectID: bob, Actions: []sdk.Action{sdk.ActionView}, ExpiresAt: &expires, ActorID: alice})
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	const n = 450 // more than two pages
	for i := range n {
		id := fmt.Sprintf("01J0000000000000000000R%03d", i)
		inner.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: id, OwnerID: alice})
		expires := now.Add(30 * 24 * time.Hour)
		if i%10 == 0 {
			expires = now.Add(time.Hour) // expired by the time of the clean-up
		}
		give(install, id, expires)
	}
	inner.AddUser(other, sdk.UserInfo{ID: bob, Name: "Bob"})
	inner.AddUser(other, sdk.UserInfo{ID: alice, Name: "Alice"})
	inner.AddRecord(other, sdk.Record{Type: sdk.TypeLead, ID: lead, OwnerID: alice})
	give(other, lead, now.Add(24*time.Hour))
	now = now.Add(2 * time.Hour)

	count := func(installID string) int {
		grants, _, _ := inner.ListGrants(t.Context(), installID, sdk.GrantQuery{State: "all"})
		return len(grants)
	}
	del := func(who, role, query string) (int, string, string) {
		t.Helper()
		w := sdktest.Route(delegation{}, host, as(who, role, `{}`), "DELETE", "/delegations"+query, "")
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		return w.Code, e.Error.Code, e.Error.Message
	}

	for _, tc := range []struct {
		name, who, role, query string
		status                 int
		code, message          string
	}{
		{"AMember", alice, "member", "?all=true", 403, "admin_only", ""},
		{"NothingSaid", boss, "admin", "", 400, "invalid_filter", "all=true"},
		{"NotTrue", boss, "admin", "?all=1", 400, "invalid_filter", `all: must be true`},
		{"WithAType", boss, "admin", "?all=true&type=lead", 400, "invalid_filter", "leave out type"},
		{"WithIDs", boss, "admin", "?all=true&ids=" + lead, 400, "invalid_filter", "leave out ids"},
		{"CountNotANumber", boss, "admin", "?all=true&count=lots", 400, "invalid_filter", `count: must be a whole number`},
		{"CountNegative", boss, "admin", "?all=true&count=-1", 400, "invalid_filter", `got "-1"`},
		{"CountEmpty", boss, "admin", "?all=true&count=", 400, "invalid_filter", `got ""`},
		{"WrongCount", boss, "admin", "?all=true&count=449", 409, "count_mismatch",
			"the install has 450 delegations, not 449; none was deleted. List them with GET /delegations?state=all, then confirm with count=450"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, message := del(tc.who, tc.role, tc.query)
			if status != tc.status || code != tc.code || !strings.Contains(message, tc.message) {
				t.Fatalf("%d %s %q, want %d %s %q", status, code, message, tc.status, tc.code, tc.message)
			}
			if got := count(install); got != n {
				t.Fatalf("a refused clean-up left %d of %d delegations", got, n)
			}
		})
	}

	// A delegation given once the count is done is not among those
	// confirmed: it stays.
	var late string
	host.atTheEnd = func() {
		inner.AddRecord(install, sdk.Record{Type: sdk.TypeLead, ID: "01J000000000000000000LATE1", OwnerID: alice})
		late = give(install, "01J000000000000000000LATE1", now.Add(time.Hour))
	}
	w := sdktest.Route(delegation{}, host, as(boss, "admin", `{}`), "DELETE", "/delegations?all=true&count=450", "")
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"deleted":450}` {
		t.Fatalf("deleting all: %d %s", w.Code, w.Body)
	}
	left, _, _ := inner.ListGrants(t.Context(), install, sdk.GrantQuery{State: "all"})
	if len(left) != 1 || left[0].ID != late {
		t.Fatalf("left: %+v, want only the one given after the count", left)
	}
	if host.revokedBy[boss] != 450 || host.largest > 200 {
		t.Fatalf("revoked by the admin: %v; largest page %d", host.revokedBy, host.largest)
	}
	if got := count(other); got != 1 {
		t.Fatalf("the other install has %d delegations left, want 1", got)
	}
	if len(inner.Notified[install]) != 0 {
		t.Fatalf("deleting all alerted: %+v", inner.Notified[install])
	}

	// Without a count, everything goes; with none left, 0.
	if w := sdktest.Route(delegation{}, host, as(boss, "admin", `{}`), "DELETE", "/delegations?all=true", ""); w.Code != http.StatusOK ||
		strings.TrimSpace(w.Body.String()) != `{"deleted":1}` {
		t.Fatalf("deleting the rest: %d %s", w.Code, w.Body)
	}
	if w := sdktest.Route(delegation{}, host, as(boss, "admin", `{}`), "DELETE", "/delegations?all=true&count=0", ""); w.Code != http.StatusOK ||
		strings.TrimSpace(w.Body.String()) != `{"deleted":0}` {
		t.Fatalf("deleting none: %d %s", w.Code, w.Body)
	}
}
