package main

import (
	"context"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Policy narrows (or, with "all", widens) the rules of the roles the
// settings name, lets shares count everywhere, and lets the records of
// the types named in children follow their parent. Admins keep
// everything. Constraints (All) that plugins before this one set stay.
// The add scope lets the role add records of the type (all) or not
// (none); shares never give add.
func (strictOwnership) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	s, err := parse(req.Settings)
	if err != nil {
		return sdk.Policy{}, err
	}
	p := req.Policy
	if p.Admin {
		return p, nil
	}
	entry := s.Roles[req.User.Role]
	shared := sdk.Cond{Kind: sdk.CondGranted, Sources: []string{id}, Origin: id}
	for _, t := range sdk.RecordTypes {
		sc := entry[t]
		for _, a := range []struct {
			action sdk.Action
			scope  string
		}{{sdk.ActionView, sc.View}, {sdk.ActionEdit, sc.Edit}, {sdk.ActionDelete, sc.Delete}} {
			r := p.Rule(t, a.action)
			if a.scope != "" {
				r.Any = append(grantsOf(r.Any), s.scoped(a.scope, req.User)...)
			}
			if a.action != sdk.ActionDelete { // shares give view, or view and edit
				r.Any = append(r.Any, shared)
			}
			p.SetRule(t, a.action, r)
		}
		switch add := p.Rule(t, sdk.ActionAdd); sc.Add {
		case scopeAll:
			add.Any = []sdk.Cond{{Kind: sdk.CondEveryone, Origin: id}}
			p.SetRule(t, sdk.ActionAdd, add)
		case scopeNone:
			p.SetRule(t, sdk.ActionAdd, sdk.Rule{})
		}
		s.followParent(&p, t)
		share := sdk.Rule{}
		if slices.Contains(s.ShareRoles, req.User.Role) {
			share = p.Rule(t, sdk.ActionView) // what they see, they may share
		}
		p.SetRule(t, sdk.ActionShare, share)
	}
	return p, nil
}

// scoped are the conditions of a scope for user u.
func (s settings) scoped(scope string, u sdk.User) []sdk.Cond {
	own := []sdk.Cond{{Kind: sdk.CondOwnerSelf, Origin: id}, {Kind: sdk.CondCreatorUnowned, Origin: id}}
	if s.CreatorKeepsAccess {
		own[1] = sdk.Cond{Kind: sdk.CondCreatorSelf, Origin: id}
	}
	switch scope {
	case scopeAll:
		return []sdk.Cond{{Kind: sdk.CondEveryone, Origin: id}}
	case scopeOwn:
		return own
	case scopeReports:
		if len(u.Reports) == 0 {
			return own
		}
		return append(own, sdk.Cond{Kind: sdk.CondOwnerIn, Users: slices.Clone(u.Reports), Origin: id})
	case scopeRole:
		if len(u.RolePeers) == 0 {
			return own
		}
		return append(own, sdk.Cond{Kind: sdk.CondOwnerIn, Users: slices.Clone(u.RolePeers), Origin: id})
	}
	return nil // none
}

// followParent lets the records of type t be viewed (and, with
// view+edit, edited) by whoever may view (edit) their parent, on top of
// what the rule allows otherwise. The parent is judged by its whole rule,
// so a parent that follows its own parent passes that on: the condition
// looks up as far as the host goes (sdk.MaxParentDepth levels), not one
// level only, which would hide an account's opportunity's activities from
// those who see the opportunity through the account.
func (s settings) followParent(p *sdk.Policy, t sdk.RecordType) {
	follow := s.Children[t]
	if follow == "" {
		return
	}
	parent := sdk.Cond{Kind: sdk.CondParentAllows, Depth: sdk.MaxParentDepth, Origin: id}
	actions := []sdk.Action{sdk.ActionView}
	if follow == followViewEdit {
		actions = append(actions, sdk.ActionEdit)
	}
	for _, a := range actions {
		r := p.Rule(t, a)
		r.Any = append(r.Any, parent)
		p.SetRule(t, a, r)
	}
}

// grantsOf keeps the grant conditions of conds: what other plugins share
// or delegate stays shared when a scope replaces the rest.
func grantsOf(conds []sdk.Cond) []sdk.Cond {
	var out []sdk.Cond
	for _, c := range conds {
		if c.Kind == sdk.CondGranted && !slices.Equal(c.Sources, []string{id}) {
			out = append(out, c)
		}
	}
	return out
}
