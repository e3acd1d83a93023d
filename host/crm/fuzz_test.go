package crm_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/crmguard/crmguard/host/crm"
)

// refused checks that err is a 400 with the code, whose message starts
// with prefix and quotes a bounded part of the input, so that whatever a
// client sends, its error stays a short sentence.
func refused(t *testing.T, err error, code, prefix string) {
	t.Helper()
	e, ok := crm.AsError(err)
	switch {
	case !ok || e.Kind != crm.KindInvalid || e.Code != code:
		t.Fatalf("%v: want a 400 %s", err, code)
	case !strings.HasPrefix(e.Message, prefix):
		t.Fatalf("%q does not start with %q", e.Message, prefix)
	case len(e.Message) > 600 || !utf8.ValidString(e.Message):
		t.Fatalf("message of %d bytes, valid UTF-8 %v: %.300q…", len(e.Message), utf8.ValidString(e.Message), e.Message)
	}
}

// FuzzRecordIDs feeds the parsers of what names a record, a user or an
// install (path segments, body fields): record types, ids, parent
// references, slugs, role names and e-mail addresses. What they accept
// round-trips to the same text; what they refuse is a 400 with a short
// message.
func FuzzRecordIDs(f *testing.F) {
	f.Fuzz(func(t *testing.T, typ, parentType, id string) {
		if err := crm.ValidateID("id", id); err != nil {
			refused(t, err, "invalid_id", "id: ")
		} else if u, err := ulid.ParseStrict(id); err != nil || u.String() != id {
			t.Fatalf("id %q accepted, reads as %s, %v", id, u, err)
		}

		if rt, err := crm.ParseRecordType(typ); err != nil {
			refused(t, err, "invalid_record_type", "unknown record type")
		} else if string(rt) != typ || !slices.Contains(crm.RecordTypes, rt) {
			t.Fatalf("record type %q read as %q", typ, rt)
		}

		for _, rt := range crm.RecordTypes {
			ref := &crm.Ref{Type: crm.RecordType(parentType), ID: id}
			err := crm.ValidateParent(rt, ref)
			if err == nil {
				if !slices.Contains(crm.ParentTypes(rt), ref.Type) || crm.ValidateID("parent.id", id) != nil {
					t.Fatalf("a %s may not have %+v as parent", rt, ref)
				}
				continue
			}
			if e, ok := crm.AsError(err); ok && e.Code == "invalid_id" {
				refused(t, err, "invalid_id", "parent.id: ")
			} else {
				refused(t, err, "invalid_parent", "parent")
			}
		}

		for _, s := range []string{typ, parentType, id} {
			if err := crm.ValidateSlug(s); err != nil {
				refused(t, err, "invalid_slug", "slug: ")
			}
			if err := crm.ValidateRoleName(s); err != nil {
				refused(t, err, "invalid_role", "role: ")
			}
			email, err := crm.NormalizeEmail(s)
			if err != nil {
				refused(t, err, "invalid_email", "email: ")
				continue
			}
			if again, err := crm.NormalizeEmail(email); err != nil || again != email || email != strings.ToLower(email) || len(email) > 254 {
				t.Fatalf("e-mail %q normalises to %q, then to %q, %v", s, email, again, err)
			}
		}
	})
}
