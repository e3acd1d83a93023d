package main

import (
	"context"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Policy lets delegations count: a delegate may take the actions of the
// settings on the records delegated to them until the delegation expires
// (the host compares the expiry with the clock at every check). It also
// says who may delegate (the share action): owners their own records,
// the delegate roles whatever they see. Constraints (All) that plugins
// before this one set stay: with teams, a delegation does not reach
// outside the delegate's teams.
func (delegation) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	s, err := parse(req.Settings)
	if err != nil {
		return sdk.Policy{}, err
	}
	p := req.Policy
	if p.Admin {
		return p, nil
	}
	delegated := sdk.Cond{Kind: sdk.CondGranted, Sources: []string{id}, Origin: id}
	for _, t := range sdk.RecordTypes {
		seen := slices.Clone(p.Rule(t, sdk.ActionView).Any) // before delegations: no re-delegating
		for _, a := range s.Actions {
			r := p.Rule(t, a)
			r.Any = append(r.Any, delegated)
			p.SetRule(t, a, r)
		}
		share := p.Rule(t, sdk.ActionShare)
		share.Any = append(share.Any, sdk.Cond{Kind: sdk.CondOwnerSelf, Origin: id})
		if slices.Contains(s.DelegateRoles, req.User.Role) {
			share.Any = append(share.Any, seen...)
		}
		p.SetRule(t, sdk.ActionShare, share)
	}
	return p, nil
}
