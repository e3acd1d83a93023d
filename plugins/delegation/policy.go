package main

import (
	"context"

	"github.com/crmguard/crmguard/sdk"
)

// Policy lets delegations count: a delegate may take the actions of the
// settings on the records delegated to them until the delegation expires
// (the host compares the expiry with the clock at every check).
// Constraints (All) that plugins before this one set stay: with teams, a
// delegation does not reach outside the delegate's teams. Who may
// delegate is the routes' to decide (api.go): the policy leaves the share
// action, which other plugins' sharing uses, as it is.
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
		for _, a := range s.Actions {
			r := p.Rule(t, a)
			r.Any = append(r.Any, delegated)
			p.SetRule(t, a, r)
		}
	}
	return p, nil
}
