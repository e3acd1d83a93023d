package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// A change of an existing record (an edit, Assign To) and each record of
// a bulk reassignment go through the same three steps, so that one rule
// decides them alike:
//
//   - plan, in a transaction: the record read, 404 for what the caller may
//     not see, the right to act checked, the change applied;
//   - the plugins' before-write hooks, outside any transaction (DESIGN §7,
//     as a create's): a hook may then write to the host API, as a
//     round-robin counter of an assignment rule does, without waiting on
//     this write's locks (SQLite has one writer at a time);
//   - commit, in a second transaction: the record locked and planned
//     again, and written only if it is still the version the hooks saw
//     (otherwise everything runs again).
//
// Without a plugin that has a before-write hook, a single-record change
// plans and commits in one transaction.

// changeFunc turns the stored record r into what a write makes of it,
// with the audit events of the change; no events: nothing changes.
type changeFunc func(tx *store.Tx, v viewer, r crm.Record) (crm.Record, []crm.AuditEvent, error)

// plannedWrite is one record's write as decided: the stored record, what
// the change makes of it (planned), what the before-write hooks make of
// that (next), and the audit events of the change.
type plannedWrite struct {
	before, planned, next crm.Record
	events                []crm.AuditEvent
}

// changes reports whether the write changes anything.
func (w plannedWrite) changes() bool { return len(w.events) > 0 }

// errRaced means that a record changed between the before-write hooks
// and the commit: the hooks saw another version, so the write is decided
// again.
var errRaced = errors.New("the record changed while its write was decided")

// maxRaces bounds how often a write is decided again because its record
// kept changing; after that the caller is told to try again.
const maxRaces = 3

// errKeptChanging answers a write whose record changed under it maxRaces
// times in a row.
var errKeptChanging = crm.Errorf(crm.KindConflict, "record_busy", "the record kept changing while this change was decided; try again")

// loadForWrite reads record t/id in tx for a write (locking its row with
// lock); a missing record is answered as one the viewer may not see.
func loadForWrite(ctx context.Context, tx *store.Tx, v viewer, t crm.RecordType, id string, lock bool) (crm.Record, error) {
	r, err := tx.Record(ctx, v.installID, t, id, lock)
	if errors.Is(err, store.ErrNotFound) {
		return crm.Record{}, v.checkAbsent(ctx, dbFacts{&tx.Queries}, crm.Ref{Type: t, ID: id})
	}
	if err != nil {
		return crm.Record{}, fmt.Errorf("load record: %w", err)
	}
	return r, nil
}

// planWrite decides whether the viewer may take action on r, a record
// read in tx — crm.ErrRecordNotFound if they may not see it, a 403 saying
// why if they may not act — checks If-Match and applies change.
func (s *Service) planWrite(ctx context.Context, tx *store.Tx, v viewer, action sdk.Action, r crm.Record, ifMatch int64, change changeFunc) (plannedWrite, error) {
	if err := v.check(ctx, dbFacts{&tx.Queries}, action, r); err != nil {
		return plannedWrite{}, err
	}
	if err := checkVersion(r, ifMatch); err != nil {
		return plannedWrite{}, err
	}
	next, events, err := change(tx, v, r)
	if err != nil {
		return plannedWrite{}, err
	}
	return plannedWrite{before: r, planned: next, next: next, events: events}, nil
}

// hookWrite runs the before-write hooks of op on a planned write that
// changes something: a hook may refuse it (a 403 with the hook's code) or
// change its owner or team.
func (s *Service) hookWrite(ctx context.Context, se session, v viewer, acts []crm.PluginActivation, op string, w *plannedWrite) error {
	if !w.changes() {
		return nil
	}
	before := w.before
	return s.beforeWrite(ctx, se, v, acts, op, &before, &w.next)
}

// follow makes w, planned again in the commit's transaction, the write
// the hooks decided on: errRaced if the record is no longer the version
// they saw.
func (w *plannedWrite) follow(hooked plannedWrite) error {
	if w.before.Version != hooked.before.Version || w.changes() != hooked.changes() {
		return errRaced
	}
	if hooked.next.OwnerID != hooked.planned.OwnerID {
		w.next.OwnerID = hooked.next.OwnerID
	}
	if hooked.next.TeamID != hooked.planned.TeamID {
		w.next.TeamID = hooked.next.TeamID
	}
	return nil
}

// commitWrite writes a planned write that changes something in tx: what
// the plugins changed checked and audited, the record at its next
// version, the audit of the change and its after-write events. It returns
// the record as written.
func (s *Service) commitWrite(ctx context.Context, tx *store.Tx, se session, v viewer, acts []crm.PluginActivation, op string, w plannedWrite) (crm.Record, error) {
	adjusted, err := s.pluginAdjustments(ctx, tx, se, v, w.planned, w.next)
	if err != nil {
		return crm.Record{}, err
	}
	before, next := w.before, w.next
	next.Version = before.Version + 1
	next.UpdatedAt = s.clock()
	if next.Version, err = tx.UpdateRecord(ctx, next, before.Version); err != nil {
		return crm.Record{}, err
	}
	if err := tx.AppendAudit(ctx, append(w.events, adjusted...)...); err != nil {
		return crm.Record{}, err
	}
	return next, s.enqueueWrites(ctx, tx, se, v, acts, op, [2]*crm.Record{&before, &next})
}

// changeRecord is the one path of every change to a single record (an
// edit, Assign To): the steps above, with the principal's right to take
// action on it, If-Match honoured (a newer stored version means another
// writer came first, and nothing is written) and the record's caches
// voided once it is written.
func (s *Service) changeRecord(ctx context.Context, p crm.Principal, t crm.RecordType, id string, ifMatch int64,
	action sdk.Action, change changeFunc,
) (crm.Record, error) {
	if err := s.checkWritable(ctx); err != nil {
		return crm.Record{}, err
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return crm.Record{}, err
	}
	p = se.p
	acts, err := se.activations(ctx)
	if err != nil {
		return crm.Record{}, err
	}
	op := sdk.OpUpdate
	if action == sdk.ActionAssign {
		op = sdk.OpAssign
	}
	hooks := len(s.writePlugins(acts, sdk.HookBefore)) > 0
	var result crm.Record
	for attempt := 1; ; attempt++ {
		result, err = s.changeOnce(ctx, se, v, acts, op, t, id, ifMatch, action, change, hooks)
		if !errors.Is(err, errRaced) {
			break
		}
		if attempt == maxRaces {
			return crm.Record{}, errKeptChanging
		}
	}
	if err != nil {
		return crm.Record{}, err
	}
	s.invalidateRecords(ctx, p.Install.ID, crm.Ref{Type: t, ID: id})
	s.wakeOutbox()
	return se.redactWritten(ctx, v, result), nil
}

// changeOnce plans, hooks (when the install has hooks) and commits one
// change of record t/id; errRaced if the record changed under the hooks.
func (s *Service) changeOnce(ctx context.Context, se session, v viewer, acts []crm.PluginActivation, op string,
	t crm.RecordType, id string, ifMatch int64, action sdk.Action, change changeFunc, hooks bool,
) (crm.Record, error) {
	var hooked *plannedWrite
	if hooks {
		var w plannedWrite
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			r, err := loadForWrite(ctx, tx, v, t, id, false)
			if err != nil {
				return err
			}
			w, err = s.planWrite(ctx, tx, v, action, r, ifMatch, change)
			return err
		})
		if err != nil {
			return crm.Record{}, err
		}
		if err := s.hookWrite(ctx, se, v, acts, op, &w); err != nil {
			return crm.Record{}, err
		}
		hooked = &w
	}
	var result crm.Record
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := loadForWrite(ctx, tx, v, t, id, true)
		if err != nil {
			return err
		}
		w, err := s.planWrite(ctx, tx, v, action, r, ifMatch, change)
		if err != nil {
			return err
		}
		if hooked != nil {
			if err := w.follow(*hooked); err != nil {
				return err
			}
		}
		if !w.changes() {
			result = r // nothing changed: no new version
			return nil
		}
		result, err = s.commitWrite(ctx, tx, se, v, acts, op, w)
		return err
	})
	return result, err
}
