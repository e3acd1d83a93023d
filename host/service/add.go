package service

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// checkAdd refuses a create that the add rule of the record's type does
// not allow, decided on the record as proposed: its owner, its creator,
// team and parent, before any plugin's hook sees it, so that a refused
// create reaches neither a hook nor the database. The parent, when the
// policy asks about parents, must exist and be visible, as the write
// checks again in its transaction; a parent the user may not see is
// refused as a missing one, never as a refusal to add that would tell it
// exists.
func (s *Service) checkAdd(ctx context.Context, se session, v viewer, r crm.Record) error {
	f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID}
	if r.Parent != nil && v.needs.ParentDepth > 0 && !v.policy.Admin {
		errParent := crm.Invalid("invalid_parent", "parent: no %s %s", r.Parent.Type, r.Parent.ID)
		parent, err := se.record(ctx, r.Parent.Type, r.Parent.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errParent
		}
		if err != nil {
			return fmt.Errorf("parent of the new %s: %w", r.Type, err)
		}
		// The parent's facts as deep as a decision about the parent
		// itself needs them, which is deeper than the new record's own
		// parent_allows can look.
		pf, err := v.facts(ctx, se, parent)
		if err != nil {
			return err
		}
		if parent.InstallID != v.installID || !v.decide(sdk.ActionView, pf).Allowed {
			return errParent
		}
		f.Parent = &pf
	}
	if d := v.decide(sdk.ActionAdd, f); !d.Allowed {
		return addRefusal(v, r.Type)
	}
	return nil
}

// addRefusal is the 403 of a create the add rule refuses: the role may
// add no record of the type, or not this one as proposed.
func addRefusal(v viewer, t crm.RecordType) error {
	if len(v.policy.Rule(t, sdk.ActionAdd).Any) == 0 {
		return crm.Errorf(crm.KindForbidden, "add_not_allowed", "your role may not add %s records", t)
	}
	return crm.Errorf(crm.KindForbidden, "add_not_allowed", "you may not add this %s as proposed: the rules for adding %s records do not allow its owner, team or parent", t, t)
}

// MayAdd returns the record types the principal may add now, with
// nothing else said of the record (access.NewRecord), from their cached
// policy: what a client offers "New" for. In adoption mode only the types
// the CRM keeps count.
func (s *Service) MayAdd(ctx context.Context, p crm.Principal) ([]crm.RecordType, error) {
	_, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	kept := s.ids(v.installID)
	return slices.DeleteFunc(access.MayAdd(v.policy, v.subject, v.now), func(t crm.RecordType) bool {
		return kept.recordType("type", t) != nil
	}), nil
}
