package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// MaxChecks bounds one batch of the decision API.
const MaxChecks = 1000

// CheckRequest asks whether a user may take an action on a record, or,
// with sdk.ActionAdd and no ID, whether they may add a record of the type.
type CheckRequest struct {
	UserID string // empty: the caller (user tokens only)
	Action sdk.Action
	Type   sdk.RecordType
	ID     string // empty with sdk.ActionAdd
}

// CheckResult answers one CheckRequest; Reason is set when an explanation
// was asked for.
type CheckResult struct {
	Allowed bool
	Reason  *access.Reason
}

// Check answers a batch of access questions, exactly as the records API
// would decide them: a record the user may not see is refused for every
// action, like a record that does not exist. An add check asks about a
// record not yet created: whether the user may add one of the type with
// nothing else said of it (access.NewRecord).
func (s *Service) Check(ctx context.Context, caller crm.Principal, checks []CheckRequest, explain bool) ([]CheckResult, error) {
	if len(checks) == 0 {
		return nil, crm.Invalid("no_checks", "checks: at least one check is needed")
	}
	if len(checks) > MaxChecks {
		return nil, crm.Invalid("too_many_checks", "checks: at most %d per request, got %d", MaxChecks, len(checks))
	}
	for i := range checks {
		if err := s.validateCheck(caller, &checks[i], fmt.Sprintf("checks[%d]", i)); err != nil {
			return nil, err
		}
	}
	var users []string
	var refs []crm.Ref
	for _, c := range checks {
		users = append(users, c.UserID)
		if c.Action != sdk.ActionAdd {
			refs = append(refs, crm.Ref{Type: c.Type, ID: c.ID})
		}
	}
	se, err := s.begin(ctx, caller, dedupe(users), dedupe(refs))
	if err != nil {
		return nil, err
	}
	viewers := map[string]viewer{}
	needTeams := false
	for i, c := range checks {
		if _, ok := viewers[c.UserID]; !ok {
			v, err := se.viewerOf(ctx, c.UserID, fmt.Sprintf("checks[%d].user_id", i))
			if err != nil {
				return nil, err
			}
			viewers[c.UserID] = v
			needTeams = needTeams || v.needs.Teams
		}
	}
	records, err := se.records(ctx, refs, needTeams)
	if err != nil {
		return nil, err
	}
	results := make([]CheckResult, len(checks))
	for i, c := range checks {
		d, err := s.decideOne(ctx, se, viewers[c.UserID], c, records[crm.Ref{Type: c.Type, ID: c.ID}])
		if err != nil {
			return nil, err
		}
		results[i].Allowed = d.Allowed
		if explain {
			results[i].Reason = &d.Reason
		}
	}
	return results, nil
}

func dedupe[T comparable](xs []T) []T {
	seen := make(map[T]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// validateCheck checks one request's names and ids, and that a user token
// asks only about its own user.
func (s *Service) validateCheck(caller crm.Principal, c *CheckRequest, field string) error {
	if !slices.Contains(sdk.Actions, c.Action) {
		return crm.Invalid("invalid_action", "%s.action: unknown action %q; the actions are view, edit, delete, assign, share and add", field, c.Action)
	}
	if _, err := crm.ParseRecordType(string(c.Type)); err != nil {
		return crm.Invalid("invalid_record_type", "%s.type: %s", field, err.Error())
	}
	if c.Action == sdk.ActionAdd {
		if c.ID != "" {
			return crm.Invalid("invalid_id", "%s.id: must be left out with action add, which asks about a %s not yet created", field, c.Type)
		}
		if err := s.ids(caller.Install.ID).recordType(field+".type", c.Type); err != nil {
			return err
		}
	} else if err := s.ids(caller.Install.ID).record(field+".id", c.Type, c.ID); err != nil {
		return err
	}
	return s.checkAskingAbout(caller, &c.UserID, field+".user_id")
}

// checkAskingAbout fills in the caller as the subject when none is named,
// and refuses a user token that asks about someone else.
func (s *Service) checkAskingAbout(caller crm.Principal, userID *string, field string) error {
	if caller.Service {
		if *userID == "" {
			return crm.Invalid("invalid_user", "%s: required with a service token", field)
		}
		return s.ids(caller.Install.ID).user(field, *userID)
	}
	if *userID == "" {
		*userID = caller.User.ID
	}
	if *userID != caller.User.ID {
		return crm.Errorf(crm.KindForbidden, "not_your_user", "%s: a user token may only ask about its own user; use a service token to ask about others", field)
	}
	return nil
}

// decideOne answers one check for a viewer about r (nil: no such record).
func (s *Service) decideOne(ctx context.Context, se session, v viewer, c CheckRequest, r *crm.Record) (access.Decision, error) {
	if c.Action == sdk.ActionAdd {
		return v.decide(sdk.ActionAdd, access.NewRecord(c.Type, v.subject)), nil
	}
	missing := access.Decision{Reason: access.Reason{Action: c.Action, Type: c.Type, Missing: true}}
	if r == nil {
		// After the work a hidden record costs, as in the records API.
		if err := v.checkAbsent(ctx, se, crm.Ref{Type: c.Type, ID: c.ID}); !errors.Is(err, crm.ErrRecordNotFound) {
			return access.Decision{}, err
		}
		return missing, nil
	}
	f, err := v.facts(ctx, se, *r)
	if err != nil {
		return access.Decision{}, err
	}
	if view := v.decide(sdk.ActionView, f); !view.Allowed || c.Action == sdk.ActionView {
		if !view.Allowed {
			return missing, nil // invisible reads as missing, here as in the records API
		}
		return view, nil
	}
	return v.decide(c.Action, f), nil
}

// FilterResult is the set of records a user may take an action on, as a
// condition over the records table (aliased r).
type FilterResult struct {
	Kind      access.FilterKind
	Condition any
	SQL       string
	Args      []any
	// Branches are the same condition as an OR of conditions each of
	// which one index can select, for a list query on a large table to
	// read a page from each and merge them (UNION), as crmguard's own
	// lists do: an OR within one WHERE is often planned as a scan.
	Branches []FilterBranch
}

// FilterBranch is one branch of a filter.
type FilterBranch struct {
	SQL  string
	Args []any
}

// Filter returns which records of a type a user may take an action on,
// for an application to push into its own queries. Visibility is part of
// the answer, as in the records API.
//
// In adoption mode the condition is over the CRM's own table, named by
// alias (the table's name when empty), for the CRM's list queries.
func (s *Service) Filter(ctx context.Context, caller crm.Principal, userID string, action sdk.Action, t sdk.RecordType, alias string) (FilterResult, error) {
	c := CheckRequest{UserID: userID, Action: action, Type: t}
	if action == sdk.ActionAdd {
		return FilterResult{}, crm.Invalid("invalid_action", "action: add has no list meaning: it is about a record not yet created; ask POST /v1/authz/check with action add and no id whether a user may add a record of the type")
	}
	if !slices.Contains(sdk.Actions, action) {
		return FilterResult{}, crm.Invalid("invalid_action", "action: unknown action %q; the actions of a filter are view, edit, delete, assign and share", action)
	}
	if _, err := crm.ParseRecordType(string(t)); err != nil {
		return FilterResult{}, err
	}
	if err := s.checkAskingAbout(caller, &c.UserID, "user_id"); err != nil {
		return FilterResult{}, err
	}
	se, err := s.begin(ctx, caller, []string{c.UserID}, nil)
	if err != nil {
		return FilterResult{}, err
	}
	v, err := se.viewerOf(ctx, c.UserID, "user_id")
	if err != nil {
		return FilterResult{}, err
	}
	target, live, alias, err := s.filterTarget(caller.Install.ID, t, alias)
	if err != nil {
		return FilterResult{}, err
	}
	compiled := []access.Compiled{access.CompileFor(target, v.policy, v.subject, sdk.ActionView, t, v.now)}
	if action != sdk.ActionView {
		compiled = append(compiled, access.CompileFor(target, v.policy, v.subject, action, t, v.now))
	}
	out := FilterResult{Kind: access.FilterAll, Condition: map[string]any{"op": "true"}}
	var conds []any
	var preds []store.Predicate
	for _, c := range compiled {
		switch c.Kind {
		case access.FilterNone:
			return FilterResult{Kind: access.FilterNone, Condition: c.Condition()}, nil
		case access.FilterConditional:
			conds = append(conds, c.Condition())
			preds = append(preds, store.Predicate{SQL: c.SQL, Args: c.Args})
		}
	}
	if live.SQL != "" && len(preds) > 0 {
		// The CRM's rows that are records of the type at all: its other
		// types' rows and soft-deleted ones are not.
		preds = append([]store.Predicate{{SQL: live.SQL, Args: live.Args}}, preds...)
		conds = append([]any{map[string]any{"kind": "live_rows", "table": alias}}, conds...)
	}
	switch len(preds) {
	case 0:
		return out, nil
	case 1:
		out.Condition = conds[0]
	default:
		out.Condition = map[string]any{"op": "and", "args": conds}
	}
	out.Kind = access.FilterConditional
	for i, p := range preds {
		if i > 0 {
			out.SQL += " AND "
		}
		out.SQL += "(" + p.SQL + ")"
		out.Args = append(out.Args, p.Args...)
	}
	kind, parts := access.ListBranchesFor(target, v.policy, v.subject, action, t, v.now)
	switch kind {
	case access.FilterConditional:
		for _, part := range parts {
			b := FilterBranch{SQL: "(" + part.SQL + ")", Args: part.Args}
			if live.SQL != "" {
				b = FilterBranch{SQL: "(" + live.SQL + ") AND " + b.SQL, Args: append(append([]any(nil), live.Args...), part.Args...)}
			}
			out.Branches = append(out.Branches, b)
		}
	default:
		out.Branches = []FilterBranch{{SQL: out.SQL, Args: out.Args}}
	}
	return out, nil
}

// filterTarget is where a filter's condition is: crmguard's records table
// (aliased r), or the adopted CRM's table of type t, aliased alias, with
// the condition that a row is a live record of the type.
func (s *Service) filterTarget(installID string, t sdk.RecordType, alias string) (access.Target, adopt.Cond, string, error) {
	m := s.db.Adoption(installID)
	if m == nil {
		if alias != "" && alias != "r" {
			return access.Target{}, adopt.Cond{}, "", crm.Invalid("invalid_alias", "alias: the records table is always aliased r here")
		}
		return access.Target{}, adopt.Cond{}, "r", nil
	}
	mt := m.Types[t]
	if mt == nil {
		return access.Target{}, adopt.Cond{}, "", crm.Invalid("invalid_record_type", "type: this install's CRM keeps no %s records", t)
	}
	if alias == "" {
		alias = mt.Table
	}
	if !aliasPattern.MatchString(alias) {
		return access.Target{}, adopt.Cond{}, "", crm.Invalid("invalid_alias", "alias: %q is not a table alias (letters, digits and _, at most 64)", alias)
	}
	live := mt.Live(alias)
	if live.SQL == "1 = 1" {
		live = adopt.Cond{}
	}
	return access.Adopted(m, installID, alias), live, alias, nil
}

var aliasPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
