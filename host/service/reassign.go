package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// assignTo is the change of Assign To and of each record of a bulk
// reassignment: the record given to owner ("" unassigns it), audited
// with from and to. A single assignment checks that owner is a user of
// the install; a bulk one (bulk) checks it once for all its records.
func (s *Service) assignTo(ctx context.Context, p crm.Principal, owner string, bulk bool) changeFunc {
	return func(tx *store.Tx, v viewer, r crm.Record) (crm.Record, []crm.AuditEvent, error) {
		from := r.OwnerID
		r.OwnerID = owner
		if !bulk {
			if err := s.checkReferences(ctx, tx, v, r, true, false, false); err != nil {
				return r, nil, err
			}
		}
		if from == owner {
			return r, nil, nil
		}
		detail := map[string]any{"from": nullable(from), "to": nullable(owner)}
		if bulk {
			detail["bulk"] = true
		}
		return r, []crm.AuditEvent{s.audit(p, crm.AuditRecordAssign, crm.Ref{Type: r.Type, ID: r.ID}, detail)}, nil
	}
}

// Reassignment is what a bulk reassignment did: how many records it
// moved, and those the caller may see but not assign, by id, each with
// what Assign To would have answered for it.
type Reassignment struct {
	Reassigned int
	Refused    []RefusedRecord
}

// RefusedRecord is a record a bulk change left as it was, with the code
// and message of the 403 the same change of it alone gets.
type RefusedRecord struct {
	ID      string
	Code    string
	Message string
}

// Reassign hands the records of type t assigned to from over to to (empty:
// unassigned), as when someone leaves. The bulk call is for roles with the
// reassign capability; each record is then decided as Assign To decides
// it (assignment on, the assign action of the caller's policy on the
// record, the plugins' before-write hooks), so that no record moves in
// bulk that its Assign To refuses. Records the caller may see but not
// assign are left and reported; those they may not see are neither moved
// nor named. The records allowed move together, each audited.
func (s *Service) Reassign(ctx context.Context, p crm.Principal, t crm.RecordType, from, to string) (Reassignment, error) {
	if err := s.checkWritable(ctx); err != nil {
		return Reassignment{}, err
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return Reassignment{}, err
	}
	p = se.p
	if err := access.CheckBulkReassign(p); err != nil {
		return Reassignment{}, err
	}
	acts, err := se.activations(ctx)
	if err != nil {
		return Reassignment{}, err
	}
	if err := s.ids(p.Install.ID).user("from", from); err != nil {
		return Reassignment{}, err
	}
	if to != "" {
		if err := s.ids(p.Install.ID).user("to", to); err != nil {
			return Reassignment{}, err
		}
	}
	if from == to {
		return Reassignment{}, crm.Invalid("invalid_reassign", "to: must differ from from")
	}
	change := s.assignTo(ctx, p, to, true)
	var out Reassignment
	for attempt := 1; ; attempt++ {
		out, err = s.reassignOnce(ctx, se, v, acts, t, from, to, change)
		if !errors.Is(err, errRaced) {
			break
		}
		if attempt == maxRaces {
			return Reassignment{}, crm.Errorf(crm.KindConflict, "records_busy", "records of %s kept changing while the reassignment was decided; try again", from)
		}
	}
	if err != nil {
		return Reassignment{}, err
	}
	if out.Reassigned > 0 {
		s.invalidate(ctx, p.Install.ID, []string{cache.InstallGen(p.Install.ID)}, nil)
		s.wakeOutbox()
	}
	return out, nil
}

// reassignOnce plans the assignment of each record of from, runs the
// before-write hooks on those allowed and commits them; errRaced if one
// of them changed in between.
func (s *Service) reassignOnce(ctx context.Context, se session, v viewer, acts []crm.PluginActivation, t crm.RecordType, from, to string, change changeFunc) (Reassignment, error) {
	out := Reassignment{Refused: []RefusedRecord{}}
	var allowed []plannedWrite
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkReassignUsers(ctx, tx, v.installID, from, to); err != nil {
			return err
		}
		for before := ""; ; {
			page, err := tx.ListRecords(ctx, store.RecordQuery{InstallID: v.installID, Type: t, OwnerID: from, Before: before, Limit: bulkChunk})
			if err != nil {
				return err
			}
			for _, r := range page {
				w, err := s.planWrite(ctx, tx, v, sdk.ActionAssign, r, 0, change)
				if left, err := sortOut(r.ID, err, &out); err != nil {
					return err
				} else if !left {
					allowed = append(allowed, w)
				}
			}
			if len(page) < bulkChunk {
				return nil
			}
			before = page[len(page)-1].ID
		}
	})
	if err != nil {
		return Reassignment{}, err
	}
	hooked := allowed[:0]
	for _, w := range allowed {
		err := s.hookWrite(ctx, se, v, acts, sdk.OpAssign, &w)
		if left, err := sortOut(w.before.ID, err, &out); err != nil {
			return Reassignment{}, err
		} else if !left {
			hooked = append(hooked, w)
		}
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkReassignUsers(ctx, tx, v.installID, from, to); err != nil {
			return err
		}
		for _, h := range hooked {
			r, err := tx.Record(ctx, v.installID, t, h.before.ID, true)
			if errors.Is(err, store.ErrNotFound) {
				return errRaced // deleted since: decide again without it
			}
			if err != nil {
				return err
			}
			w, err := s.planWrite(ctx, tx, v, sdk.ActionAssign, r, 0, change)
			var none Reassignment
			if left, err := sortOut(r.ID, err, &none); err != nil {
				return err
			} else if left {
				return errRaced // its facts changed since: decide again
			}
			if err := w.follow(h); err != nil {
				return err
			}
			if _, err := s.commitWrite(ctx, tx, se, v, acts, sdk.OpAssign, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Reassignment{}, err
	}
	out.Reassigned = len(hooked)
	slices.SortFunc(out.Refused, func(a, b RefusedRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// checkReassignUsers checks that the users a reassignment names are of the
// install: a bad one is the caller's 400, whatever records there are.
func (s *Service) checkReassignUsers(ctx context.Context, tx *store.Tx, installID, from, to string) error {
	// A disabled user's records are what is most often moved; nothing
	// is moved to one.
	if _, err := tx.AnyUser(ctx, installID, from); err != nil {
		return notFound(err, crm.Invalid("unknown_user", "from: no user %s in this install", from), "from")
	}
	if to == "" {
		return nil
	}
	return checkAssignable(ctx, &tx.Queries, installID, "to", to)
}

// sortOut sorts one record of a bulk change by the answer its decision
// got: allowed (nil), left as it is — refused (a 403, which out reports
// with its code and message) or skipped without a word (one the caller
// may not see: it is neither changed nor named) — or an error that stops
// the whole change.
func sortOut(id string, err error, out *Reassignment) (left bool, _ error) {
	if err == nil {
		return false, nil
	}
	if errors.Is(err, crm.ErrRecordNotFound) {
		return true, nil
	}
	if e, ok := crm.AsError(err); ok && e.Kind == crm.KindForbidden {
		out.Refused = append(out.Refused, RefusedRecord{ID: id, Code: e.Code, Message: e.Message})
		return true, nil
	}
	return false, err
}
