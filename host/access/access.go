// Package access decides what a user may do to a record. It is pure: the
// caller passes the user (with the install's settings) and the record's
// facts, and gets a decision, or a SQL predicate for list views, back.
//
// The rules are the base behaviour of a team CRM ("Assign To", DESIGN §3):
//   - everyone in the install sees every record of the install;
//   - an assigned record is edited or deleted only by its assignee or an
//     administrator; an unassigned record by anyone;
//   - with assignment turned off, owners restrict nothing and nobody assigns;
//   - who may assign follows the install's assign_by setting;
//   - deleting needs the right to edit;
//   - bulk reassignment needs the reassign capability (managers, admins).
//
// Nothing here looks beyond the principal's install: callers only pass
// records they loaded within it.
package access

import (
	"github.com/crmguard/crmguard/host/crm"
)

// errNotOwner is the answer for a visible record the caller may not change.
var errNotOwner = crm.Errorf(crm.KindForbidden, "not_owner", "only the record's assignee or an administrator may change this record")

// CanView reports whether p may see r. Records the caller may not see are
// answered as missing.
func CanView(p crm.Principal, r crm.Record) bool {
	return r.InstallID == p.Install.ID
}

// CheckEdit returns nil if p may edit r, or a 403 error saying why not.
func CheckEdit(p crm.Principal, r crm.Record) error {
	if p.IsAdmin() || !p.Install.Settings.AssignmentEnabled || r.OwnerID == "" || r.OwnerID == p.User.ID {
		return nil
	}
	return errNotOwner
}

// CheckDelete returns nil if p may delete r: deleting needs the right to edit.
func CheckDelete(p crm.Principal, r crm.Record) error {
	return CheckEdit(p, r)
}

// CheckAssign returns nil if p may set the owner of r (a record being
// created counts as unassigned).
func CheckAssign(p crm.Principal, r crm.Record) error {
	s := p.Install.Settings
	if !s.AssignmentEnabled {
		return crm.Errorf(crm.KindForbidden, "assignment_disabled", "assignment is turned off for this install")
	}
	if p.IsAdmin() {
		return nil
	}
	switch s.AssignBy {
	case crm.AssignByEveryone:
		return nil
	case crm.AssignByOwners:
		return CheckEdit(p, r)
	}
	return crm.Errorf(crm.KindForbidden, "assign_not_allowed", "only administrators may assign records in this install")
}

// CheckBulkReassign returns nil if p may move every record of one user to
// another at once.
func CheckBulkReassign(p crm.Principal) error {
	if !p.Install.Settings.AssignmentEnabled {
		return crm.Errorf(crm.KindForbidden, "assignment_disabled", "assignment is turned off for this install")
	}
	if p.Role.Has(crm.CapReassign) {
		return nil
	}
	return crm.Errorf(crm.KindForbidden, "reassign_not_allowed", "bulk reassignment needs a manager or administrator role")
}

// Filter is the set of records a user may act on, as the list query needs it.
type Filter struct {
	// All is true when every record of the install qualifies.
	All bool
	// SQL and Args, when All is false, are a condition on the records table
	// aliased r.
	SQL  string
	Args []any
}

// EditFilter returns the records p may edit, for "can=edit" lists. It
// states the same rule as CheckEdit.
func EditFilter(p crm.Principal) Filter {
	if p.IsAdmin() || !p.Install.Settings.AssignmentEnabled {
		return Filter{All: true}
	}
	return Filter{SQL: "r.owner_id IS NULL OR r.owner_id = ?", Args: []any{p.User.ID}}
}

// CheckAdmin returns nil if p administers the install.
func CheckAdmin(p crm.Principal) error {
	if p.IsAdmin() {
		return nil
	}
	return crm.Errorf(crm.KindForbidden, "admin_only", "only administrators may do this")
}
