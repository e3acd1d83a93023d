package service

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
)

// FuzzCursor feeds pageRequest what a client may send as limit= and
// cursor=. A cursor it takes names an id the store can bound a page by
// and is the one spelling of that id's cursor, so that a cursor cannot be
// altered into another that reads the same; the same text taken as an id
// gets a cursor that reads back as that id whenever the id fits.
func FuzzCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit int, cursor string) {
		size, id, err := pageRequest(limit, cursor)
		if err != nil {
			if e, ok := crm.AsError(err); !ok || (e.Code != "invalid_cursor" && e.Code != "invalid_limit") {
				t.Fatalf("pageRequest(%d, %q): %v, want invalid_cursor or invalid_limit", limit, cursor, err)
			}
		} else {
			if size < 1 || size > MaxLimit || (limit != 0 && size != limit) {
				t.Fatalf("pageRequest(%d, …): size %d", limit, size)
			}
			switch {
			case cursor == "" && id != "":
				t.Fatalf("no cursor continues from %q", id)
			case cursor != "" && !fitsID(id) && crm.ValidateID("cursor", id) != nil:
				t.Fatalf("cursor %q continues from %q, which fits no id column", cursor, id)
			case cursor != "" && encodeCursor(id) != cursor:
				t.Fatalf("cursor %q reads as %q, whose cursor is %q", cursor, id, encodeCursor(id))
			}
		}

		// The fuzzed text as an id: its cursor reads back as it.
		if fitsID(cursor) || crm.ValidateID("id", cursor) == nil {
			if got, err := decodeCursor(encodeCursor(cursor)); err != nil || got != cursor {
				t.Fatalf("the cursor of id %q reads as %q, %v", cursor, got, err)
			}
		}
	})
}

// FuzzIDs feeds the id checks of ids.go an id from a path or a body, for
// crmguard's own tables and for an adopted CRM's integer and text id
// columns. An id they accept fits crmguard's tables, is the one spelling
// its column compares equal, and can start a page; an id they refuse is
// a 400 invalid_id whose message names the field and quotes at most a
// few dozen characters of the input.
func FuzzIDs(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string, textIDs bool, size uint8) {
		col := adopt.Column{Name: "id", Kind: adopt.KindInt}
		if textIDs {
			col = adopt.Column{Name: "id", Kind: adopt.KindText, Size: int(size)}
		}
		m := &adopt.Mapping{
			Users: adopt.Users{Table: "users", ID: col},
			Teams: &adopt.Teams{Table: "teams", ID: col},
			Types: map[crm.RecordType]*adopt.Type{
				crm.TypeAccount: {RecordType: crm.TypeAccount, Table: "accounts", ID: col},
				crm.TypeContact: {RecordType: crm.TypeContact, Table: "contacts", ID: col,
					Parent: &adopt.Parent{RecordType: crm.TypeAccount, Link: adopt.Link{Column: col}}},
			},
		}
		for _, c := range []struct {
			name  string
			check ids
			col   *adopt.Column // nil: crmguard's own ULIDs
		}{{"native", ids{}, nil}, {"adopted", ids{m: m}, &col}} {
			for field, err := range map[string]error{
				"id":        c.check.record("id", crm.TypeContact, id),
				"user_id":   c.check.user("user_id", id),
				"team_id":   c.check.team("team_id", id),
				"parent.id": c.check.parent(crm.TypeContact, &crm.Ref{Type: crm.TypeAccount, ID: id}),
			} {
				if err != nil {
					e, ok := crm.AsError(err)
					if !ok || e.Kind != crm.KindInvalid || e.Code != "invalid_id" {
						t.Fatalf("%s %s %q: %v, want a 400 invalid_id", c.name, field, id, err)
					}
					if !strings.HasPrefix(e.Message, field+": ") || len(e.Message) > 700 || !utf8.ValidString(e.Message) {
						t.Fatalf("%s %s %q: message %q", c.name, field, id, e.Message)
					}
					continue
				}
				if c.col != nil && !adopt.ValidID(*c.col, id) || c.col == nil && crm.ValidateID(field, id) != nil {
					t.Fatalf("%s %s: accepted %q, which its column cannot hold", c.name, field, id)
				}
				if len(id) > maxIDLen {
					t.Fatalf("%s %s: accepted %q, longer than crmguard's id columns", c.name, field, id)
				}
				if got, err := decodeCursor(encodeCursor(id)); err != nil || got != id {
					t.Fatalf("%s %s: the cursor of id %q reads as %q, %v", c.name, field, id, got, err)
				}
			}
		}
	})
}
