package prober

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/testing/harness"
)

var recordTypes = []string{"lead", "contact", "account", "opportunity", "activity"}

// gatherB collects the values of install B that the probes send: its
// records of every type, its people, team, grants and a role, and cursors
// of its lists, each list read by B's admin a record at a time.
func (p *prober) gatherB() {
	b, t := p.w.B, p.t
	p.values = map[string][]value{}
	add := func(kind, v, typ, from string) {
		if v == "" {
			t.Fatalf("B has no %s (%s)", kind, from)
		}
		p.values[kind] = append(p.values[kind], value{kind: kind, v: v, typ: typ, from: from})
	}
	for _, typ := range recordTypes {
		add("record", b.Records["alice"][typ], typ, "Alice's "+typ)
	}
	add("record", b.Records["bob"]["lead"], "lead", "Bob's lead")
	for name, u := range map[string]harness.Client{"admin": b.Admin, "manager": b.Manager, "Alice": b.Alice, "Bob": b.Bob} {
		add("user", u.ID, "", name)
	}
	slices.SortFunc(p.values["user"], func(x, y value) int { return strings.Compare(x.from, y.from) })
	add("team", b.TeamID, "", "the team")
	add("grant", b.ShareID, "", "a share")
	add("grant", b.DelegationID, "", "a delegation")
	b.Admin.Must(201, "PUT", "/v1/roles/closers", map[string]any{"description": "B's own", "capabilities": []string{}})
	add("role", "closers", "", "a role")

	// A second delegation, so that B's list of them has a next page.
	b.Alice.Must(201, "POST", "/v1/plugins/delegation/api/records/lead/"+b.Records["alice"]["lead"]+"/delegations", map[string]any{"user_id": b.Bob.ID})
	cursor := func(path, from string) {
		next, _ := b.Admin.Must(200, "GET", path, nil).Object(t)["next_cursor"].(string)
		add("cursor", next, "", from)
	}
	for _, typ := range recordTypes {
		cursor("/v1/records/"+typ+"?limit=1", "the cursor of B's "+typ+" list")
	}
	cursor("/v1/users?limit=1", "the cursor of B's users")
	cursor("/v1/notifications?user=all&limit=1", "the cursor of B's notifications")
	cursor("/v1/records/account/"+b.Records["alice"]["account"]+"/related?limit=1", "the cursor of a B account's related records")
	cursor("/v1/records/lead/"+b.Records["alice"]["lead"]+"/access?limit=1", "the cursor of a B lead's access history")
	cursor("/v1/plugins/delegation/api/delegations?limit=1", "the cursor of B's delegations")

	// Cursors around ids that only B's notifications and audit log hold.
	note := firstID(t, b.Admin.Must(200, "GET", "/v1/notifications?user=all", nil).Body, "items")
	add("cursor", encodeCursor(note), "", "a cursor of a B notification's id")
	audit := firstID(t, b.Admin.Must(200, "GET", "/v1/records/lead/"+b.Records["alice"]["lead"]+"/access", nil).Body, "history")
	add("cursor", encodeCursor(audit), "", "a cursor of a B audit entry's id")
}

// gatherA collects every id of install A, sorted, as its admin sees them:
// a stand-in must sort among them exactly where B's value does.
func (p *prober) gatherA() {
	a, t := p.a, p.t
	var ids []string
	page := func(path, key string) {
		for cursor := ""; ; {
			u := path + "?limit=200"
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(a.Admin.Must(200, "GET", u, nil).Body, &body); err != nil {
				t.Fatal(err)
			}
			var items []struct {
				ID string `json:"id"`
			}
			json.Unmarshal(body[key], &items)
			for _, it := range items {
				ids = append(ids, it.ID)
			}
			cursor = ""
			json.Unmarshal(body["next_cursor"], &cursor)
			if cursor == "" {
				return
			}
		}
	}
	var records []string
	for _, typ := range recordTypes {
		before := len(ids)
		page("/v1/records/"+typ, "items")
		for _, id := range ids[before:] {
			records = append(records, typ+"/"+id)
		}
	}
	page("/v1/users", "items")
	page("/v1/notifications", "items")
	page("/v1/plugins/delegation/api/delegations", "items")
	for _, r := range records {
		page("/v1/records/"+r+"/access", "history")
		page("/v1/records/"+r+"/access", "grants")
	}
	var teams struct{ Items []struct{ ID string } }
	json.Unmarshal(a.Admin.Must(200, "GET", "/v1/teams", nil).Body, &teams)
	for _, tm := range teams.Items {
		ids = append(ids, tm.ID)
	}
	slices.Sort(ids)
	p.aIDs = slices.Compact(ids)

	// A's records that a member may not see (the World's strict-ownership
	// scopes, less what is shared or delegated with Bob).
	for _, h := range []struct{ owner, from string }{{"alice", "bob"}, {"bob", "alice"}} {
		for _, typ := range recordTypes {
			id := a.Records[h.owner][typ]
			if h.owner == "alice" && (typ == "lead" || typ == "account") {
				continue // shared with Bob, delegated to him
			}
			p.values["hidden"] = append(p.values["hidden"], value{kind: "record", v: id, typ: typ, hiddenFrom: h.from,
				from: h.owner + "'s " + typ})
		}
	}

	p.settings = map[string]string{}
	for _, id := range harness.Plugins {
		p.settings[id] = string(a.Admin.Must(200, "GET", "/v1/plugins/"+id+"/settings", nil).Body)
	}
}

func firstID(t interface{ Fatalf(string, ...any) }, body []byte, key string) string {
	var v map[string]json.RawMessage
	var items []struct{ ID string }
	if json.Unmarshal(body, &v) != nil || json.Unmarshal(v[key], &items) != nil || len(items) == 0 {
		t.Fatalf("no %s in %s", key, body)
	}
	return items[0].ID
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("v1:" + id)) }
