package service

import (
	"maps"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// ids checks the ids of one install: crmguard's ULIDs, or in adoption mode
// the CRM's own ids, as the column that holds them does (an integer
// column's ids are numbers in one spelling, since MySQL would read
// "7abc" as 7).
type ids struct{ m *adopt.Mapping }

func (s *Service) ids(installID string) ids { return idsOf(&s.db.Queries, installID) }

// idsOf is ids for an install, read from a transaction's view of the store.
func idsOf(q *store.Queries, installID string) ids { return ids{m: q.Adoption(installID)} }

// record checks the id of a record of type t.
func (i ids) record(field string, t crm.RecordType, id string) error {
	if i.m == nil {
		return crm.ValidateID(field, id)
	}
	mt := i.m.Types[t]
	if mt == nil {
		return crm.Invalid("invalid_record_type", "%s: this install's CRM keeps no %s records", field, t)
	}
	return i.check(field, mt.ID, id, "a "+string(t)+" id of "+mt.Table)
}

// recordType checks that the install keeps records of type t: every
// type, or in adoption mode those the CRM's mapping has.
func (i ids) recordType(field string, t crm.RecordType) error {
	if i.m != nil && i.m.Types[t] == nil {
		return crm.Invalid("invalid_record_type", "%s: this install's CRM keeps no %s records", field, t)
	}
	return nil
}

// user checks a user's id.
func (i ids) user(field, id string) error {
	if i.m == nil {
		return crm.ValidateID(field, id)
	}
	return i.check(field, i.m.Users.ID, id, "a user id of "+i.m.Users.Table)
}

// team checks a team's id.
func (i ids) team(field, id string) error {
	if i.m == nil {
		return crm.ValidateID(field, id)
	}
	if i.m.Teams == nil {
		return crm.Invalid("invalid_id", "%s: this install's CRM has no teams", field)
	}
	return i.check(field, i.m.Teams.ID, id, "a team id of "+i.m.Teams.Table)
}

// parent checks a parent reference of a record of type t.
func (i ids) parent(t crm.RecordType, parent *crm.Ref) error {
	if i.m == nil || parent == nil {
		return crm.ValidateParent(t, parent)
	}
	mt := i.m.Types[t]
	if mt == nil || mt.Parent == nil {
		return crm.Invalid("invalid_parent", "parent: a %s has no parent in this install's CRM", t)
	}
	if parent.Type != mt.Parent.RecordType {
		return crm.Invalid("invalid_parent", "parent.type: a %s's parent must be an %s, got %q", t, mt.Parent.RecordType, parent.Type)
	}
	return i.record("parent.id", parent.Type, parent.ID)
}

// maxIDLen is the longest id crmguard's own tables hold.
const maxIDLen = 26

func (i ids) check(field string, c adopt.Column, id, what string) error {
	if !adopt.ValidID(c, id) || len(id) > maxIDLen {
		shown := id
		if r := []rune(shown); len(r) > 40 {
			shown = string(r[:40]) + "…"
		}
		if c.Kind == adopt.KindInt {
			return crm.Invalid("invalid_id", "%s: %q is not a valid id (%s: a whole number)", field, shown, what)
		}
		size := maxIDLen
		if c.Size > 0 {
			size = min(c.Size, maxIDLen)
		}
		return crm.Invalid("invalid_id", "%s: %q is not a valid id (%s: at most %d characters, no spaces)", field, shown, what, size)
	}
	return nil
}

// checkData checks a record's data after a change: crmguard's own rules,
// or in adoption mode that each changed field is a column of the CRM's
// table that can hold its new value.
func (s *Service) checkData(installID string, t crm.RecordType, data, changed map[string]any) error {
	m := s.db.Adoption(installID)
	if m == nil {
		return crm.ValidateData(data)
	}
	mt := m.Types[t]
	for _, key := range slices.Sorted(maps.Keys(changed)) {
		f, ok := mt.Field(key)
		if !ok {
			names := make([]string, len(mt.Fields))
			for i, f := range mt.Fields {
				names[i] = f.Name
			}
			return crm.Invalid("unknown_field", "data.%s: not a field of %s records in this CRM; the fields are %s", key, t, strings.Join(names, ", "))
		}
		if _, err := adopt.ToColumn(f.Column, changed[key]); err != nil {
			return crm.Invalid("invalid_data", "data.%s: %v", key, err)
		}
	}
	return nil
}

// fitsID reports whether a CRM's id fits crmguard's tables: their id
// columns hold ASCII, so an id with any other byte, or a space or control
// character, names nothing there (and MySQL refuses to compare one with
// them).
func fitsID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}
