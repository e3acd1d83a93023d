package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

// sharesHost is a fake host with three sales reps' leads, a manager and an
// admin, running the plugin's policy over repsOwn.
func sharesHost(t *testing.T) *sdktest.Host {
	t.Helper()
	host := sdktest.NewHost()
	host.Plugin, host.Source = strictOwnership{}, id
	host.SetSettings(install, repsOwn)
	host.AddUser(install, sdk.UserInfo{ID: rep, Role: "sales-rep"})
	host.AddUser(install, sdk.UserInfo{ID: rep2, Role: "sales-rep"})
	host.AddUser(install, sdk.UserInfo{ID: boss, Role: "admin"})
	for _, l := range []string{"01J000000000000000000000L1", "01J000000000000000000000L2"} {
		host.AddRecord(install, sdk.Record{ID: l, Type: sdk.TypeLead, OwnerID: rep, CreatedBy: rep})
	}
	return host
}

func caller(user, role string) sdk.CallerInfo {
	return sdk.CallerInfo{Install: sdk.Install{ID: install}, User: sdk.User{ID: user, Role: role}, Settings: repsOwn}
}

func shareIn(t *testing.T, body []byte) share {
	t.Helper()
	var s share
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("not a share: %s", body)
	}
	return s
}

// TestSharesEditedInPlace: a share's access is changed with PATCH, and a
// second POST for the same user or team changes the share it has instead
// of adding another; the same rules as for creating and removing shares.
func TestSharesEditedInPlace(t *testing.T) {
	host := sharesHost(t)
	admin, salesRep, shared := caller(boss, "admin"), caller(rep, "sales-rep"), caller(rep2, "sales-rep")
	path := "/records/lead/01J000000000000000000000L1/shares"
	lead := sdk.Ref{Type: sdk.TypeLead, ID: "01J000000000000000000000L1"}
	may := func(action sdk.Action) bool {
		ok, err := host.Check(context.Background(), install, rep2, action, lead)
		if err != nil {
			t.Fatal(err)
		}
		return ok[0]
	}
	w := sdktest.Route(strictOwnership{}, host, admin, "POST", path, `{"user_id":"`+rep2+`","access":"view"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("share: %d %s", w.Code, w.Body)
	}
	s := shareIn(t, w.Body.Bytes())
	if !may(sdk.ActionView) || may(sdk.ActionEdit) {
		t.Fatal("a view share does not give view alone")
	}

	t.Run("PatchChangesTheAccess", func(t *testing.T) {
		w := sdktest.Route(strictOwnership{}, host, admin, "PATCH", path+"/"+s.ID, `{"access":"view+edit"}`)
		if got := shareIn(t, w.Body.Bytes()); w.Code != http.StatusOK || got.ID != s.ID || got.Access != accessViewEdit || got.UserID != rep2 {
			t.Fatalf("patch: %d %s", w.Code, w.Body)
		}
		if !may(sdk.ActionEdit) {
			t.Fatal("the share gives no edit after its change")
		}
		w = sdktest.Route(strictOwnership{}, host, admin, "PATCH", path+"/"+s.ID, `{"access":"view"}`)
		if w.Code != http.StatusOK || shareIn(t, w.Body.Bytes()).Access != accessView || may(sdk.ActionEdit) {
			t.Fatalf("patch back: %d %s", w.Code, w.Body)
		}
	})
	t.Run("ASecondPostChangesTheShare", func(t *testing.T) {
		w := sdktest.Route(strictOwnership{}, host, admin, "POST", path, `{"user_id":"`+rep2+`","access":"view+edit"}`)
		if got := shareIn(t, w.Body.Bytes()); w.Code != http.StatusOK || got.ID != s.ID || got.Access != accessViewEdit {
			t.Fatalf("second post: %d %s", w.Code, w.Body)
		}
		if !may(sdk.ActionEdit) {
			t.Fatal("the second post did not change the access")
		}
		w = sdktest.Route(strictOwnership{}, host, admin, "POST", path, `{"user_id":"`+rep2+`","access":"view+edit"}`)
		if w.Code != http.StatusOK || shareIn(t, w.Body.Bytes()).ID != s.ID {
			t.Fatalf("the same post again: %d %s", w.Code, w.Body)
		}
		grants, _, _ := host.ListGrants(context.Background(), install, sdk.GrantQuery{RecordID: lead.ID})
		if len(grants) != 1 {
			t.Fatalf("%d shares on the lead, want 1: %+v", len(grants), grants)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		other := sdktest.Route(strictOwnership{}, host, admin, "POST", "/records/lead/01J000000000000000000000L2/shares", `{"user_id":"`+rep2+`","access":"view"}`)
		otherShare := shareIn(t, other.Body.Bytes())
		for _, c := range []struct {
			name   string
			as     sdk.CallerInfo
			path   string
			body   string
			status int
			code   string
		}{
			{"UnknownShare", admin, path + "/01J0000000000000000000000Z", `{"access":"view"}`, http.StatusNotFound, "unknown_share"},
			{"NotAShareID", admin, path + "/nope", `{"access":"view"}`, http.StatusNotFound, "unknown_share"},
			{"ShareOfAnotherRecord", admin, path + "/" + otherShare.ID, `{"access":"view"}`, http.StatusNotFound, "unknown_share"},
			{"BadAccess", admin, path + "/" + s.ID, `{"access":"edit"}`, http.StatusBadRequest, "invalid_share"},
			{"NoAccess", admin, path + "/" + s.ID, `{}`, http.StatusBadRequest, "invalid_share"},
			{"UnknownKey", admin, path + "/" + s.ID, `{"access":"view","user_id":"` + rep + `"}`, http.StatusBadRequest, "invalid_json"},
			{"AnOwnerWhoMayNotShare", salesRep, path + "/" + s.ID, `{"access":"view"}`, http.StatusForbidden, "not_allowed"},
			{"TheSharedUser", shared, path + "/" + s.ID, `{"access":"view+edit"}`, http.StatusForbidden, "not_allowed"},
		} {
			t.Run(c.name, func(t *testing.T) {
				w := sdktest.Route(strictOwnership{}, host, c.as, "PATCH", c.path, c.body)
				var e struct{ Error struct{ Code string } }
				json.Unmarshal(w.Body.Bytes(), &e)
				if w.Code != c.status || e.Error.Code != c.code {
					t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.code)
				}
			})
		}
		if !may(sdk.ActionEdit) {
			t.Fatal("a refused change changed the share")
		}
	})
	t.Run("AnInvisibleRecordIsNotFound", func(t *testing.T) {
		host.AddRecord(install, sdk.Record{ID: "01J000000000000000000000L3", Type: sdk.TypeLead, OwnerID: rep, CreatedBy: rep})
		w := sdktest.Route(strictOwnership{}, host, shared, "PATCH", "/records/lead/01J000000000000000000000L3/shares/"+s.ID, `{"access":"view"}`)
		if w.Code != http.StatusNotFound {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

// gatedLister is a host whose grant lists, once read, wait (a while at
// most) until every request of a burst has read one, as on a busy host: requests that
// look for a share and then add one all overlap, unless something makes
// them take turns.
type gatedLister struct {
	*sdktest.Host
	burst   int
	mu      sync.Mutex
	listing int
	open    chan struct{}
}

func (h *gatedLister) ListGrants(ctx context.Context, installID string, q sdk.GrantQuery) ([]sdk.Grant, string, error) {
	grants, next, err := h.Host.ListGrants(ctx, installID, q)
	h.mu.Lock()
	if h.listing++; h.listing == h.burst {
		close(h.open)
	}
	h.mu.Unlock()
	select {
	case <-h.open:
	case <-time.After(50 * time.Millisecond):
	}
	return grants, next, err
}

// TestConcurrentSharesOfOneSubject: concurrent POSTs sharing one record
// with the same team leave one share, created once.
func TestConcurrentSharesOfOneSubject(t *testing.T) {
	const team = "01J000000000000000000000T1"
	base := sharesHost(t)
	base.AddTeam(install, sdk.Team{ID: team, Members: []sdk.TeamMember{{UserID: rep2}}})
	codes := make([]int, 8)
	host := &gatedLister{Host: base, burst: len(codes), open: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			access := accessView
			if i%2 == 1 {
				access = accessViewEdit
			}
			w := sdktest.Route(strictOwnership{}, host, caller(boss, "admin"), "POST", "/records/lead/01J000000000000000000000L1/shares",
				`{"team_id":"`+team+`","access":"`+access+`"}`)
			codes[i] = w.Code
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("answers %v", codes)
		}
	}
	grants, _, _ := base.ListGrants(context.Background(), install, sdk.GrantQuery{RecordID: "01J000000000000000000000L1"})
	if created != 1 || len(grants) != 1 {
		t.Fatalf("%d created, %d shares: %v", created, len(grants), codes)
	}
	if _, found, _ := base.KVGet(context.Background(), install, "shares-lock:lead:01J000000000000000000000L1"); found {
		t.Fatal("the lock outlived the requests")
	}
}
