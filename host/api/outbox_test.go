package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// bury puts an event straight into the dead letters, as the outbox does
// with one it gives up on.
func bury(t *testing.T, db *store.DB, slug, plugin, event string, b store.Burial) string {
	t.Helper()
	ctx := context.Background()
	in, err := db.InstallBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	e := store.OutboxEvent{ID: crm.NewID(), InstallID: in.ID, PluginID: plugin, Event: []byte(event), NextAt: at, CreatedAt: at}
	if err := db.EnqueueEvents(ctx, e); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.ClaimEvent(ctx, e, at.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	b.At = at.Add(24 * time.Hour)
	if moved, err := db.BuryEvent(ctx, e.ID, b); !moved || err != nil {
		t.Fatalf("bury: %v, %v", moved, err)
	}
	return e.ID
}

// TestDeadLettersAPI: the operator lists, reads and replays dead letters
// under /v1/admin; nobody else may.
func TestDeadLettersAPI(t *testing.T) {
	const token = "op-0123456789abcdefghijklmnopqrstuvwxyz"
	const letters = "/v1/admin/outbox/dead-letters"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixtureWith(t, db, token)
		op := client{t: t, h: f.h, token: token}
		ctx := context.Background()
		first := bury(t, db, "acme", "hello", `{"operation":"create","after":{"id":"L1","data":{"n":1e400}}}`,
			store.Burial{Cause: "plugin hello: boom", Operation: "create", RecordType: "lead", RecordID: "01J000000000000000000000L1"})
		second := bury(t, db, "globex", "teams", `{"install":`, store.Burial{Cause: "the event cannot be read: unexpected EOF"})
		third := bury(t, db, "acme", "teams", `{}`, store.Burial{Cause: "x"})
		ids := func(r response) []string {
			t.Helper()
			var out []string
			for _, item := range r.json(t)["items"].([]any) {
				out = append(out, item.(map[string]any)["id"].(string))
			}
			return out
		}
		same := func(got []string, want ...string) bool {
			if len(got) != len(want) {
				return false
			}
			for i := range got {
				if got[i] != want[i] {
					return false
				}
			}
			return true
		}

		t.Run("OnlyTheOperator", func(t *testing.T) {
			for _, c := range []client{f.admin, f.mallory, f.anonymous(t)} {
				for _, r := range []response{c.do("GET", letters, nil), c.do("POST", letters+"/"+first+"/replay", nil),
					c.do("POST", letters+"/replay", map[string]any{"all": true})} {
					if r.status != 401 {
						t.Fatalf("a user's call: %d %s", r.status, r.body)
					}
				}
			}
		})
		t.Run("List", func(t *testing.T) {
			r := op.do("GET", letters, nil)
			if r.status != 200 || !same(ids(r), first, second, third) || r.json(t)["next_cursor"] != "" {
				t.Fatalf("all: %d %s", r.status, r.body)
			}
			item := r.json(t)["items"].([]any)[0].(map[string]any)
			if item["install"] != "acme" || item["plugin"] != "hello" || item["operation"] != "create" || item["attempts"] != float64(1) ||
				item["last_error"] != "plugin hello: boom" || item["written_at"] != "2026-11-02T10:00:00Z" || item["died_at"] != "2026-11-03T10:00:00Z" ||
				item["record"].(map[string]any)["id"] != "01J000000000000000000000L1" || item["event"] != nil {
				t.Fatalf("first item: %v", item)
			}
			if unread := r.json(t)["items"].([]any)[1].(map[string]any); unread["operation"] != nil || unread["record"] != nil {
				t.Fatalf("an unreadable event's item: %v", unread)
			}
			for query, want := range map[string][]string{
				"?install=acme":               {first, third},
				"?plugin=teams":               {second, third},
				"?install=acme&plugin=teams":  {third},
				"?install=globex&plugin=none": nil,
			} {
				if r := op.do("GET", letters+query, nil); r.status != 200 || !same(ids(r), want...) {
					t.Errorf("%s: %d %s", query, r.status, r.body)
				}
			}
			page := op.do("GET", letters+"?limit=2", nil)
			next, _ := page.json(t)["next_cursor"].(string)
			if !same(ids(page), first, second) || next == "" {
				t.Fatalf("page 1: %s", page.body)
			}
			if r := op.do("GET", letters+"?limit=2&cursor="+next, nil); !same(ids(r), third) || r.json(t)["next_cursor"] != "" {
				t.Fatalf("page 2: %s", r.body)
			}
			for query, code := range map[string]string{
				"?install=nope": "unknown_install", "?limit=x": "invalid_limit", "?limit=1000": "invalid_limit", "?cursor=zzz": "invalid_cursor",
				"?plugin=%ef%bb%bf": "invalid_filter", "?plugin=Hello": "invalid_filter", "?install=%ef%bb%bf": "unknown_install",
			} {
				r := op.do("GET", letters+query, nil)
				if want := map[bool]int{true: 404, false: 400}[code == "unknown_install"]; r.status != want || r.errorCode(t) != code {
					t.Errorf("%s: %d %s, want %s", query, r.status, r.body, code)
				}
			}
		})
		t.Run("One", func(t *testing.T) {
			r := op.do("GET", letters+"/"+first, nil) // the event as it is kept, numbers exact
			if r.status != 200 || !strings.HasSuffix(string(r.body), `"event":{"operation":"create","after":{"id":"L1","data":{"n":1e400}}}}`) {
				t.Fatalf("one: %d %s", r.status, r.body)
			}
			if got := op.do("GET", letters+"/"+second, nil).json(t)["event"]; got != `{"install":` {
				t.Fatalf("an unreadable event: %#v", got)
			}
			for _, id := range []string{crm.NewID(), "%ef%bb%bf", "not%20an%20id", strings.Repeat("9", 300)} {
				if r := op.do("GET", letters+"/"+id, nil); r.status != 404 || r.errorCode(t) != "unknown_dead_letter" {
					t.Fatalf("an unknown one (%s): %d %s", id, r.status, r.body)
				}
			}
		})
		t.Run("ReplayUnknown", func(t *testing.T) {
			for _, r := range []response{
				op.do("POST", letters+"/"+crm.NewID()+"/replay", nil),
				op.do("POST", letters+"/not%20an%20id/replay", nil),
				op.do("POST", letters+"/%ef%bb%bf/replay", nil),
				op.do("POST", letters+"/replay", map[string]any{"ids": []string{first, crm.NewID()}}),
				op.do("POST", letters+"/replay", map[string]any{"ids": []string{first, "\ufeff"}}),
			} {
				if r.status != 404 || r.errorCode(t) != "unknown_dead_letter" {
					t.Fatalf("replay of an unknown letter: %d %s", r.status, r.body)
				}
			}
			if n, _ := db.PendingEvents(ctx); n != 0 {
				t.Fatalf("a refused replay put %d events back", n)
			}
		})
		t.Run("ReplayBadRequests", func(t *testing.T) {
			for _, c := range []struct {
				body any
				code string
			}{
				{map[string]any{"ids": []string{first}, "all": true}, "invalid_replay"},
				{map[string]any{"ids": []string{first}, "install": "acme"}, "invalid_replay"},
				{map[string]any{}, "invalid_ids"},
				{map[string]any{"idz": []string{first}}, "unknown_field"},
				{`{"ids":"` + first + `"}`, "invalid_json"},
				{nil, "invalid_json"},
			} {
				if r := op.do("POST", letters+"/replay", c.body); r.status != 400 || r.errorCode(t) != c.code {
					t.Errorf("%v: %d %s, want 400 %s", c.body, r.status, r.body, c.code)
				}
			}
		})
		t.Run("Replay", func(t *testing.T) {
			if r := op.do("POST", letters+"/"+first+"/replay", nil); r.status != 200 || string(r.body) != `{"replayed":1}` {
				t.Fatalf("replay: %d %s", r.status, r.body)
			}
			due, err := db.DueEvents(ctx, time.Now().Add(time.Minute), 10)
			if err != nil || len(due) != 1 || due[0].ID != first || due[0].Attempts != 0 {
				t.Fatalf("the outbox after the replay: %+v, %v", due, err)
			}
			if r := op.do("POST", letters+"/"+first+"/replay", nil); r.status != 404 {
				t.Fatalf("a second replay: %d %s", r.status, r.body)
			}
			if r := op.do("POST", letters+"/replay", map[string]any{"all": true, "install": "acme"}); string(r.body) != `{"replayed":1}` {
				t.Fatalf("replay of acme's: %d %s", r.status, r.body)
			}
			if r := op.do("POST", letters+"/replay", map[string]any{"ids": []string{second}}); string(r.body) != `{"replayed":1}` {
				t.Fatalf("replay by ids: %d %s", r.status, r.body)
			}
			if r := op.do("GET", letters, nil); len(ids(r)) != 0 {
				t.Fatalf("left: %s", r.body)
			}
			if n, _ := db.PendingEvents(ctx); n != 3 {
				t.Fatalf("%d events in the outbox, want 3", n)
			}
		})
	})
}
