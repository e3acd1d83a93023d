package service

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// A reference to a record the caller may not see is answered as null
// wherever the host names one — a record's parent, in a get, a list, a
// related page or a write's answer, and the parent an audit entry names —
// since its id would tell that the record exists (DESIGN §12). Whether the
// caller may see it is decided as a get decides it, for all the references
// of an answer at once, from the cached records and facts; a reference to
// a type of which the caller may see every record tells nothing, and costs
// nothing to show.

// seesEvery returns the record types of an install of which a user with
// policy p may see every record: those whose compiled view rule lets every
// record through. An adopted CRM keeps only the types its mapping names.
func (s *Service) seesEvery(installID string, p sdk.Policy, subject access.Subject) []sdk.RecordType {
	m, tg, now := s.db.Adoption(installID), s.target(installID, "r"), s.clock()
	var out []sdk.RecordType
	for _, t := range sdk.RecordTypes {
		if m != nil && m.Types[t] == nil {
			continue
		}
		if access.CompileFor(tg, p, subject, sdk.ActionView, t, now).Kind == access.FilterAll {
			out = append(out, t)
		}
	}
	return out
}

// hiddenRefs returns which of refs name records the viewer may not see, or
// no record: one decision over them all, reading what is not cached with
// one query per type.
func (se session) hiddenRefs(ctx context.Context, v viewer, refs []crm.Ref) (map[crm.Ref]bool, error) {
	hidden := map[crm.Ref]bool{}
	var ask []crm.Ref
	for _, ref := range dedupe(refs) {
		switch {
		case slices.Contains(v.seesAll, ref.Type):
		case se.s.ids(v.installID).record("id", ref.Type, ref.ID) != nil:
			hidden[ref] = true // no record can have that id
		default:
			ask = append(ask, ref)
		}
	}
	if len(ask) == 0 {
		return hidden, nil
	}
	sub := se.readingRecords(ctx, ask, v.needs.Grants)
	recs, err := sub.records(ctx, ask, v.needs.Teams)
	if err != nil {
		return nil, err
	}
	for _, ref := range ask {
		r := recs[ref]
		if r == nil {
			hidden[ref] = true
			continue
		}
		switch err := v.check(ctx, sub, sdk.ActionView, *r); {
		case errors.Is(err, crm.ErrRecordNotFound):
			hidden[ref] = true
		case err != nil:
			return nil, err
		}
	}
	return hidden, nil
}

// redactParents clears the parent of each of recs that the viewer may not
// see; seen are records this request has already found the viewer may see.
// Records are changed in the slice only: the copies they came from (the
// cache's) keep their parents.
func (se session) redactParents(ctx context.Context, v viewer, recs []crm.Record, seen ...crm.Ref) error {
	var refs []crm.Ref
	for _, r := range recs {
		if r.Parent != nil && !slices.Contains(seen, *r.Parent) {
			refs = append(refs, *r.Parent)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	hidden, err := se.hiddenRefs(ctx, v, refs)
	if err != nil {
		return err
	}
	for i, r := range recs {
		if r.Parent != nil && hidden[*r.Parent] {
			recs[i].Parent = nil
		}
	}
	return nil
}

// redactWritten is redactParents for the answer to a write that is
// already committed: when the decision cannot be made, the parent is left
// out rather than the write reported as failed.
func (se session) redactWritten(ctx context.Context, v viewer, r crm.Record) crm.Record {
	recs := []crm.Record{r}
	if err := se.redactParents(ctx, v, recs); err != nil {
		se.s.log.Warn("a write's answer leaves out the record's parent: who may see it could not be decided", "err", err)
		recs[0].Parent = nil
	}
	return recs[0]
}

// redactHistory nulls the parent an audit entry's detail names (a child
// detached from its deleted parent) where the viewer may not see it. A
// deleted record is seen by nobody, so only a viewer who may see every
// record of its type is shown its id.
func (se session) redactHistory(ctx context.Context, v viewer, events []crm.AuditEvent) error {
	var refs []crm.Ref
	for _, e := range events {
		if ref, ok := parentIn(e.Detail); ok {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	hidden, err := se.hiddenRefs(ctx, v, refs)
	if err != nil {
		return err
	}
	for i, e := range events {
		if ref, ok := parentIn(e.Detail); ok && hidden[ref] {
			events[i].Detail = maps.Clone(e.Detail)
			events[i].Detail["parent"] = nil
		}
	}
	return nil
}

// parentIn is the record an audit detail names as "parent", if it names
// one as a reference ({"type","id"}).
func parentIn(detail map[string]any) (crm.Ref, bool) {
	m, ok := detail["parent"].(map[string]any)
	if !ok {
		return crm.Ref{}, false
	}
	typ, _ := m["type"].(string)
	id, _ := m["id"].(string)
	t, err := crm.ParseRecordType(typ)
	if err != nil || id == "" {
		return crm.Ref{}, false
	}
	return crm.Ref{Type: t, ID: id}, true
}
