package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// ListOptions select and page a list of records.
type ListOptions struct {
	Owner  string // a user id, "me" or "none"
	Team   string // a team id or "none"
	Can    string // "" or "view": visible records; "edit": records the caller may edit
	Query  string // search in name and e-mail
	Limit  int    // 0: DefaultLimit
	Cursor string // from a previous page's NextCursor
}

// ListRecords returns a page of the records of type t the principal may see.
func (s *Service) ListRecords(ctx context.Context, p crm.Principal, t crm.RecordType, o ListOptions) ([]crm.Record, string, error) {
	q, action, err := s.listQuery(p, t, o)
	if err != nil {
		return nil, "", err
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return nil, "", err
	}
	recs, next, err := s.listPage(ctx, v, action, q, o)
	if err != nil {
		return nil, "", err
	}
	if err := se.redactParents(ctx, v, recs); err != nil {
		return nil, "", err
	}
	return recs, next, nil
}

// CountRecords counts the records of type t the principal may see (or
// edit, with Can), with the filters of ListRecords: every page together.
// Invisible records are never counted.
func (s *Service) CountRecords(ctx context.Context, p crm.Principal, t crm.RecordType, o ListOptions) (int64, error) {
	q, some, err := s.countQuery(ctx, p, t, o)
	if err != nil || !some {
		return 0, err
	}
	n, err := s.db.CountRecords(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// CountRecordsByTeam counts as CountRecords does, per team ("" for the
// records without one); teams without a visible record are left out.
func (s *Service) CountRecordsByTeam(ctx context.Context, p crm.Principal, t crm.RecordType, o ListOptions) (map[string]int64, error) {
	q, some, err := s.countQuery(ctx, p, t, o)
	if err != nil || !some {
		return map[string]int64{}, err
	}
	counts, err := s.db.CountRecordsByTeam(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("count records by team: %w", err)
	}
	return counts, nil
}

// countQuery is the query of a count, with the principal's access filter;
// false when the principal may see none of the records.
func (s *Service) countQuery(ctx context.Context, p crm.Principal, t crm.RecordType, o ListOptions) (store.RecordQuery, bool, error) {
	q, action, err := s.listQuery(p, t, o)
	if err != nil {
		return q, false, err
	}
	if o.Limit != 0 || o.Cursor != "" {
		return q, false, crm.Invalid("invalid_filter", "limit and cursor: a count covers every page; leave them out")
	}
	_, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return q, false, err
	}
	branches, some := v.branches(q.Type, action)
	q.AnyOf = branches
	return q, some, nil
}

// listQuery turns the filters of a list or count into a query, and says
// which action the records must allow.
func (s *Service) listQuery(p crm.Principal, t crm.RecordType, o ListOptions) (store.RecordQuery, sdk.Action, error) {
	q := store.RecordQuery{InstallID: p.Install.ID, Type: t, Search: strings.TrimSpace(o.Query)}
	switch o.Owner {
	case "":
	case "me":
		q.OwnerID = p.User.ID
	case "none":
		q.Unowned = true
	default:
		if err := s.ids(p.Install.ID).user("owner", o.Owner); err != nil {
			return store.RecordQuery{}, "", crm.Invalid("invalid_filter", `owner: must be a user id, "me" or "none", got %q`, o.Owner)
		}
		q.OwnerID = o.Owner
	}
	switch o.Team {
	case "":
	case "none":
		q.NoTeam = true
	default:
		if err := s.ids(p.Install.ID).team("team", o.Team); err != nil {
			return store.RecordQuery{}, "", crm.Invalid("invalid_filter", `team: must be a team id or "none", got %q`, o.Team)
		}
		q.TeamID = o.Team
	}
	action := sdk.ActionView
	switch o.Can {
	case "", string(sdk.ActionView):
	case string(sdk.ActionEdit):
		action = sdk.ActionEdit
	default:
		return store.RecordQuery{}, "", crm.Invalid("invalid_filter", `can: must be "view" or "edit", got %q`, o.Can)
	}
	if len(q.Search) > 255 {
		return store.RecordQuery{}, "", crm.Invalid("invalid_filter", "q: at most 255 characters")
	}
	return q, action, nil
}

// listPage returns a page of the records of q the viewer may take action
// on. The access filter is part of the query, so pages stay full and the
// cursor stays right however few records the viewer may see.
func (s *Service) listPage(ctx context.Context, v viewer, action sdk.Action, q store.RecordQuery, o ListOptions) ([]crm.Record, string, error) {
	branches, some := v.branches(q.Type, action)
	if !some {
		return s.page(ctx, q, o, true)
	}
	q.AnyOf = branches
	return s.page(ctx, q, o, false)
}

// listChildren returns a page of the children of one record, of several
// types, that the viewer may see: each type's access branches, restricted
// to the type, are branches of the list.
func (s *Service) listChildren(ctx context.Context, v viewer, q store.RecordQuery, types []crm.RecordType, o ListOptions) ([]crm.Record, string, error) {
	if m := s.db.Adoption(v.installID); m != nil {
		return s.listAdoptedChildren(ctx, v, q, types, o)
	}
	for _, t := range types {
		ofType := store.Predicate{SQL: "r.type = ?", Args: []any{t}}
		branches, some := v.branches(t, sdk.ActionView)
		switch {
		case !some:
		case len(branches) == 0:
			q.AnyOf = append(q.AnyOf, []store.Predicate{ofType})
		default:
			for _, b := range branches {
				q.AnyOf = append(q.AnyOf, append([]store.Predicate{ofType}, b...))
			}
		}
	}
	return s.page(ctx, q, o, len(q.AnyOf) == 0)
}

// listAdoptedChildren is listChildren in an adopted CRM, whose types live
// in tables of their own: a page of each child type, merged.
func (s *Service) listAdoptedChildren(ctx context.Context, v viewer, q store.RecordQuery, types []crm.RecordType, o ListOptions) ([]crm.Record, string, error) {
	size, before, err := pageRequest(o.Limit, o.Cursor)
	if err != nil {
		return nil, "", err
	}
	m := s.db.Adoption(v.installID)
	var all []crm.Record
	for _, t := range types {
		if mt := m.Types[t]; mt == nil || mt.Parent == nil {
			continue
		}
		branches, some := v.branches(t, sdk.ActionView)
		if !some {
			continue
		}
		tq := q
		tq.Type, tq.AnyOf, tq.Before, tq.Limit = t, branches, before, size+1
		recs, err := s.db.ListRecords(ctx, tq)
		if err != nil {
			return nil, "", fmt.Errorf("list children: %w", err)
		}
		all = append(all, recs...)
	}
	slices.SortFunc(all, func(a, b crm.Record) int {
		if ca, cb := m.Types[a.Type].ID, m.Types[b.Type].ID; ca.Kind == cb.Kind {
			return adopt.CompareIDs(ca, b.ID, a.ID)
		}
		return strings.Compare(b.ID, a.ID)
	})
	all, next := cutPage(all, size, func(r crm.Record) string { return r.ID })
	return all, next, nil
}

// page runs q for the page o asks for and returns the records with the
// cursor of the next page ("" on the last page). With none, the caller
// already knows nothing qualifies and only the paging input is checked.
func (s *Service) page(ctx context.Context, q store.RecordQuery, o ListOptions, none bool) ([]crm.Record, string, error) {
	size, before, err := pageRequest(o.Limit, o.Cursor)
	if err != nil || none {
		return []crm.Record{}, "", err
	}
	q.Before, q.Limit = before, size+1
	recs, err := s.db.ListRecords(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	recs, next := cutPage(recs, size, func(r crm.Record) string { return r.ID })
	return recs, next, nil
}

// Related is what hangs off a record: its parent and a page of its children.
type Related struct {
	Parent     *crm.Record
	Children   []crm.Record
	NextCursor string
}

// RelatedRecords returns the parent and children of a record the principal
// may see, each filtered by what the principal may see.
func (s *Service) RelatedRecords(ctx context.Context, p crm.Principal, t crm.RecordType, id string, childType string, o ListOptions) (Related, error) {
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return Related{}, err
	}
	se, v, err := s.beginAsCaller(ctx, p, []crm.Ref{{Type: t, ID: id}})
	if err != nil {
		return Related{}, err
	}
	r, err := s.getVisible(ctx, se, v, t, id)
	if err != nil {
		return Related{}, err
	}
	var rel Related
	if r.Parent != nil {
		parent, err := s.getVisible(ctx, se, v, r.Parent.Type, r.Parent.ID)
		switch {
		case err == nil:
			rel.Parent = &parent
		case !errors.Is(err, crm.ErrRecordNotFound):
			return Related{}, err
		}
	}
	q := store.RecordQuery{InstallID: p.Install.ID, ParentID: r.ID}
	types := crm.ChildTypes(t)
	if childType != "" {
		ct, err := crm.ParseRecordType(childType)
		if err != nil {
			return Related{}, err
		}
		types = []crm.RecordType{ct}
	}
	if rel.Children, rel.NextCursor, err = s.listChildren(ctx, v, q, types, o); err != nil {
		return Related{}, err
	}
	// The children's parent is r, which the caller may see; the parent's
	// own parent is decided with them.
	page := rel.Children
	if rel.Parent != nil {
		page = append([]crm.Record{*rel.Parent}, rel.Children...)
	}
	if err := se.redactParents(ctx, v, page, crm.Ref{Type: r.Type, ID: r.ID}); err != nil {
		return Related{}, err
	}
	if rel.Parent != nil {
		rel.Parent, rel.Children = &page[0], page[1:]
	}
	return rel, nil
}
