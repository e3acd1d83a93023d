// Package access decides what a user may do to a record. It is pure: the
// caller passes a policy document (sdk.Policy), the user and the record's
// facts, and gets a decision with its reason (Evaluate), or a SQL condition
// that selects the same records for a list (Compile).
//
// The grammar of the document is the closed set of condition kinds of
// DESIGN §6. A rule allows an action when one condition of Any holds and
// every condition of All holds; a missing rule allows nothing; Admin allows
// everything within the install; delete is never allowed where edit is not;
// parent_allows looks up at most sdk.MaxParentDepth parents in all; grants
// count until the instant they expire. Evaluate and Compile implement the
// same grammar and a property test holds them to it on both stores.
//
// The add action is decided like any other, on the facts of the record
// about to be created (NewRecord when nothing is proposed): its proposed
// owner, its creator, team and parent. It has no grants yet. Compiled, an
// add rule selects the stored records that would be allowed if they were
// proposed, which is what the property test compares; no list is
// filtered by it.
//
// BasePolicy states the base behaviour of a team CRM ("Assign To", DESIGN
// §3) in that grammar. Capabilities that are not about one record (bulk
// reassignment, administration) are checked by CheckBulkReassign and
// CheckAdmin.
//
// Nothing here looks beyond the principal's install: callers only pass
// records they loaded within it.
package access

import (
	"github.com/crmguard/crmguard/host/crm"
)

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

// CheckAdmin returns nil if p administers the install.
func CheckAdmin(p crm.Principal) error {
	if p.IsAdmin() {
		return nil
	}
	return crm.Errorf(crm.KindForbidden, "admin_only", "only administrators may do this")
}
