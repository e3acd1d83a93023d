package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// maxParentDepth bounds the walk up a chain of parents (activities of
// activities), which is also what keeps a chain from closing into a loop.
const maxParentDepth = 32

// NewRecord is the input for creating a record.
type NewRecord struct {
	Type    crm.RecordType
	Data    map[string]any
	OwnerID string // empty: unassigned
	TeamID  string // empty: no team
	Parent  *crm.Ref
}

// CreateRecord creates a record in the principal's install.
func (s *Service) CreateRecord(ctx context.Context, p crm.Principal, nr NewRecord) (crm.Record, error) {
	if s.db.Adoption(p.Install.ID) != nil {
		return crm.Record{}, errCRMCreates
	}
	if err := crm.ValidateData(nr.Data); err != nil {
		return crm.Record{}, err
	}
	if err := crm.ValidateParent(nr.Type, nr.Parent); err != nil {
		return crm.Record{}, err
	}
	// The ids are checked before the plugins' hooks see the record, so
	// that a hook asking the host about the owner asks about an id a user
	// may have; whether one has it is checked with the write.
	if nr.OwnerID != "" {
		if err := s.ids(p.Install.ID).user("owner_id", nr.OwnerID); err != nil {
			return crm.Record{}, err
		}
	}
	if nr.TeamID != "" {
		if err := s.ids(p.Install.ID).team("team_id", nr.TeamID); err != nil {
			return crm.Record{}, err
		}
	}
	now := s.clock()
	r := crm.Record{
		ID: crm.NewID(), InstallID: p.Install.ID, Type: nr.Type, CreatedBy: p.User.ID,
		TeamID: nr.TeamID, Parent: nr.Parent, Data: nr.Data, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return crm.Record{}, err
	}
	p = se.p
	if nr.OwnerID != "" {
		if err := checkAssignmentOn(p); err != nil {
			return crm.Record{}, err
		}
		r.OwnerID = nr.OwnerID
	}
	if err := s.checkAdd(ctx, se, v, r); err != nil {
		return crm.Record{}, err
	}
	acts, err := se.activations(ctx)
	if err != nil {
		return crm.Record{}, err
	}
	if err := s.beforeWrite(ctx, se, v, acts, sdk.OpCreate, nil, &r); err != nil {
		return crm.Record{}, err
	}
	if nr.OwnerID != "" && r.OwnerID == nr.OwnerID {
		// Setting the owner of a new record is assigning an unassigned
		// one, decided on the record as it will be stored: with the team
		// a plugin gave it.
		if d := v.decide(sdk.ActionAssign, access.Facts{Type: r.Type, ID: r.ID, CreatedBy: r.CreatedBy, TeamID: r.TeamID}); !d.Allowed {
			return crm.Record{}, v.refusal(r.Type, sdk.ActionAssign, d)
		}
	}
	ref := crm.Ref{Type: r.Type, ID: r.ID}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkReferences(ctx, tx, v, r, true, true, true); err != nil {
			return err
		}
		if err := tx.InsertRecord(ctx, r); err != nil {
			return err
		}
		events := []crm.AuditEvent{s.audit(p, crm.AuditRecordCreate, ref, map[string]any{"name": r.Name()})}
		if r.OwnerID != "" {
			events = append(events, s.audit(p, crm.AuditRecordAssign, ref, map[string]any{"from": nil, "to": r.OwnerID}))
		}
		if err := tx.AppendAudit(ctx, events...); err != nil {
			return err
		}
		return s.enqueueWrites(ctx, tx, se, v, acts, sdk.OpCreate, [2]*crm.Record{nil, &r})
	})
	if err != nil {
		return crm.Record{}, fmt.Errorf("create %s: %w", r.Type, err)
	}
	s.wakeOutbox()
	return r, nil // its parent, if any, was found visible to the caller in the transaction
}

// checkReferences checks that the owner, team and parent a record points at
// exist in the principal's install (and, for the parent, are visible), so
// that a bad id gets a clear message instead of a foreign-key error.
func (s *Service) checkReferences(ctx context.Context, q *store.Tx, v viewer, r crm.Record, owner, team, parent bool) error {
	if owner && r.OwnerID != "" {
		if err := s.ids(v.installID).user("owner_id", r.OwnerID); err != nil {
			return err
		}
		if err := checkAssignable(ctx, &q.Queries, v.installID, "owner_id", r.OwnerID); err != nil {
			return err
		}
	}
	if team && r.TeamID != "" {
		if err := s.ids(v.installID).team("team_id", r.TeamID); err != nil {
			return err
		}
		if _, err := q.Team(ctx, v.installID, r.TeamID); err != nil {
			return notFound(err, crm.Invalid("unknown_team", "team_id: no team %s in this install", r.TeamID), "team")
		}
	}
	if parent && r.Parent != nil {
		errParent := crm.Invalid("invalid_parent", "parent: no %s %s", r.Parent.Type, r.Parent.ID)
		next := *r.Parent
		for range maxParentDepth {
			if next.ID == r.ID {
				return crm.Invalid("invalid_parent", "parent: %s %s is this record or one of its children", r.Parent.Type, r.Parent.ID)
			}
			up, err := q.Record(ctx, v.installID, next.Type, next.ID, false)
			if err != nil {
				return notFound(err, errParent, "parent")
			}
			if next == *r.Parent {
				if err := v.check(ctx, dbFacts{&q.Queries}, sdk.ActionView, up); err != nil {
					return notFound(store.ErrNotFound, errParent, "parent") // invisible: as if missing
				}
			}
			if up.Parent == nil {
				return nil
			}
			next = *up.Parent
		}
		return crm.Invalid("invalid_parent", "parent: the chain of parents is deeper than %d records", maxParentDepth)
	}
	return nil
}

// GetRecord returns a record the principal may see; a record they may not
// see is answered exactly like a missing one.
func (s *Service) GetRecord(ctx context.Context, p crm.Principal, t crm.RecordType, id string) (crm.Record, error) {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return crm.Record{}, err
	}
	se, v, err := s.beginAsCaller(ctx, p, []crm.Ref{{Type: t, ID: id}})
	if err != nil {
		return crm.Record{}, err
	}
	r, err := s.getVisible(ctx, se, v, t, id)
	if err != nil {
		return crm.Record{}, err
	}
	recs := []crm.Record{r}
	if err := se.redactParents(ctx, v, recs); err != nil {
		return crm.Record{}, err
	}
	return recs[0], nil
}

// getVisible returns a record the viewer may see, or the not-found answer.
func (s *Service) getVisible(ctx context.Context, se session, v viewer, t crm.RecordType, id string) (crm.Record, error) {
	r, err := se.record(ctx, t, id)
	if errors.Is(err, store.ErrNotFound) {
		return crm.Record{}, v.checkAbsent(ctx, se, crm.Ref{Type: t, ID: id})
	}
	if err != nil {
		return crm.Record{}, fmt.Errorf("get record: %w", err)
	}
	if err := v.check(ctx, se, sdk.ActionView, r); err != nil {
		return crm.Record{}, err
	}
	return r, nil
}

// checkAssignmentOn refuses any change of owner while the install has
// assignment turned off; it binds administrators too.
func checkAssignmentOn(p crm.Principal) error {
	if !p.Install.Settings.AssignmentEnabled {
		return crm.Errorf(crm.KindForbidden, "assignment_disabled", "assignment is turned off for this install")
	}
	return nil
}

// RecordChange is a PATCH of a record: Data is merged into the record's
// data (a nil value removes the field); team and parent change only when
// their Set flag is on.
type RecordChange struct {
	Data      map[string]any
	SetTeam   bool
	TeamID    string
	SetParent bool
	Parent    *crm.Ref
}

// UpdateRecord changes a record the principal may edit. ifMatch, when not
// zero, is the version the caller last read; a newer stored version means
// another writer came first and nothing is written.
func (s *Service) UpdateRecord(ctx context.Context, p crm.Principal, t crm.RecordType, id string, c RecordChange, ifMatch int64) (crm.Record, error) {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return crm.Record{}, err
	}
	if c.SetParent {
		if err := s.ids(p.Install.ID).parent(t, c.Parent); err != nil {
			return crm.Record{}, err
		}
	}
	return s.changeRecord(ctx, p, t, id, ifMatch, sdk.ActionEdit, func(tx *store.Tx, v viewer, r crm.Record) (crm.Record, []crm.AuditEvent, error) {
		changed := slices.Sorted(maps.Keys(c.Data))
		fromTeam := r.TeamID
		data := maps.Clone(r.Data)
		for k, v := range c.Data {
			if v == nil {
				delete(data, k)
			} else {
				data[k] = v
			}
		}
		if err := s.checkData(v.installID, r.Type, data, c.Data); err != nil {
			return r, nil, err
		}
		r.Data = data
		if c.SetTeam {
			r.TeamID = c.TeamID
			changed = append(changed, "team_id")
		}
		if c.SetParent {
			r.Parent = c.Parent
			changed = append(changed, "parent")
		}
		if err := s.checkReferences(ctx, tx, v, r, false, c.SetTeam, c.SetParent); err != nil {
			return r, nil, err
		}
		if len(changed) == 0 {
			return r, nil, nil
		}
		ref := crm.Ref{Type: r.Type, ID: r.ID}
		detail := map[string]any{"fields": changed}
		if r.TeamID != fromTeam {
			detail["team"] = teamChange(fromTeam, r.TeamID)
		}
		return r, []crm.AuditEvent{s.audit(p, crm.AuditRecordUpdate, ref, detail)}, nil
	})
}

// AssignRecord sets the owner of a record ("Assign To"); an empty owner
// unassigns it.
func (s *Service) AssignRecord(ctx context.Context, p crm.Principal, t crm.RecordType, id, owner string, ifMatch int64) (crm.Record, error) {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return crm.Record{}, err
	}
	if err := checkAssignmentOn(p); err != nil {
		return crm.Record{}, err
	}
	return s.changeRecord(ctx, p, t, id, ifMatch, sdk.ActionAssign, s.assignTo(ctx, p, owner, false))
}

// An adopted CRM creates and deletes its own records; crmguard reads,
// edits and assigns them.
var (
	errCRMCreates = crm.Errorf(crm.KindForbidden, "crm_managed", "records of this install live in its CRM's tables and are created in the CRM; crmguard lists, edits and assigns them")
	errCRMDeletes = crm.Errorf(crm.KindForbidden, "crm_managed", "records of this install live in its CRM's tables and are deleted in the CRM; crmguard lists, edits and assigns them")
)

func checkVersion(r crm.Record, ifMatch int64) error {
	if ifMatch != 0 && ifMatch != r.Version {
		return crm.Errorf(crm.KindPrecondition, "version_mismatch",
			"the record is at version %d, not %d: it changed since you read it; read it again and retry", r.Version, ifMatch)
	}
	return nil
}

// DeleteRecord removes a record the principal may delete. Its children stay
// and lose their parent; its grants go with it; the audit log keeps its data.
func (s *Service) DeleteRecord(ctx context.Context, p crm.Principal, t crm.RecordType, id string, ifMatch int64) error {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return err
	}
	if err := s.checkWritable(ctx); err != nil {
		return err
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return err
	}
	p = se.p
	acts, err := se.activations(ctx)
	if err != nil {
		return err
	}
	changed := []crm.Ref{{Type: t, ID: id}}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.Record(ctx, p.Install.ID, t, id, true)
		if errors.Is(err, store.ErrNotFound) {
			return v.checkAbsent(ctx, dbFacts{&tx.Queries}, crm.Ref{Type: t, ID: id})
		}
		if err != nil {
			return fmt.Errorf("load record: %w", err)
		}
		if err := v.check(ctx, dbFacts{&tx.Queries}, sdk.ActionDelete, r); err != nil {
			return err
		}
		if tx.Adoption(p.Install.ID) != nil {
			return errCRMDeletes
		}
		if err := checkVersion(r, ifMatch); err != nil {
			return err
		}
		if err := s.beforeWrite(ctx, se, v, acts, sdk.OpDelete, &r, nil); err != nil {
			return err
		}
		if err := s.enqueueWrites(ctx, tx, se, v, acts, sdk.OpDelete, [2]*crm.Record{&r, nil}); err != nil {
			return err
		}
		children, err := tx.DetachChildren(ctx, p.Install.ID, r.ID, s.clock())
		if err != nil {
			return err
		}
		if err := tx.DeleteRecord(ctx, p.Install.ID, t, id); err != nil {
			return err
		}
		ref := crm.Ref{Type: t, ID: id}
		events := []crm.AuditEvent{s.audit(p, crm.AuditRecordDelete, ref, map[string]any{
			"owner_id": nullable(r.OwnerID), "team_id": nullable(r.TeamID), "data": r.Data, "version": r.Version,
		})}
		for _, c := range children {
			events = append(events, s.audit(p, crm.AuditRecordDetach, c, map[string]any{"parent": map[string]any{"type": t, "id": id}}))
		}
		changed = append(changed, children...)
		return tx.AppendAudit(ctx, events...)
	})
	if err != nil {
		return err
	}
	s.invalidateRecords(ctx, p.Install.ID, changed...)
	s.wakeOutbox()
	return nil
}

// AccessHistory is who may act on a record besides the base rules, and the
// history of its ownership and access.
type AccessHistory struct {
	Grants []crm.Grant
	// Expired are the record's grants whose expiry has passed (a
	// delegation that ran out), with when it did.
	Expired    []crm.Grant
	History    []crm.AuditEvent
	NextCursor string
}

// RecordAccess returns the current grants and a page of the audit history
// of a record the principal may see, oldest first.
func (s *Service) RecordAccess(ctx context.Context, p crm.Principal, t crm.RecordType, id string, o ListOptions) (AccessHistory, error) {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return AccessHistory{}, err
	}
	se, v, err := s.beginAsCaller(ctx, p, []crm.Ref{{Type: t, ID: id}})
	if err != nil {
		return AccessHistory{}, err
	}
	r, err := s.getVisible(ctx, se, v, t, id)
	if err != nil {
		return AccessHistory{}, err
	}
	size, after, err := pageRequest(o.Limit, o.Cursor)
	if err != nil {
		return AccessHistory{}, err
	}
	var h AccessHistory
	now := s.clock()
	if h.Grants, err = s.db.RecordGrants(ctx, p.Install.ID, t, r.ID, now); err != nil {
		return AccessHistory{}, err
	}
	if h.Expired, err = s.db.RecordExpiredGrants(ctx, p.Install.ID, t, r.ID, now); err != nil {
		return AccessHistory{}, err
	}
	events, err := s.db.RecordAudit(ctx, p.Install.ID, t, r.ID, after, size+1)
	if err != nil {
		return AccessHistory{}, err
	}
	h.History, h.NextCursor = cutPage(events, size, func(e crm.AuditEvent) string { return e.ID })
	if err := se.redactHistory(ctx, v, h.History); err != nil {
		return AccessHistory{}, err
	}
	return h, nil
}
