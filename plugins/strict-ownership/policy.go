package main

import (
	"context"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Policy narrows (or, with "all", widens) the rules of the roles the
// settings name, and lets shares count everywhere. Admins keep
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
	}
	return nil // none
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
