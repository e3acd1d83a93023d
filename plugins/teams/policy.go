package main

import (
	"context"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Policy confines a user without a cross-team role to the records of
// their teams (and those without a team, when the settings let them):
// one constraint on every rule, so it narrows whatever the base and the
// plugins before this one allow, shares and delegations included. The
// add rule is the exception: a new record's team is settled by
// BeforeWrite, which runs after the add rule is decided (a record
// proposed without a team gets the creator's primary team there, and one
// in another team is refused there with team_mismatch).
func (teams) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	s, err := parse(req.Settings)
	if err != nil {
		return sdk.Policy{}, err
	}
	p := req.Policy
	if s.crossTeam(req.User.Role) {
		return p, nil
	}
	own := sdk.Cond{Kind: sdk.CondTeamIn, Teams: slices.Clone(req.User.Teams), Origin: id,
		Unteamed: s.UnteamedVisibleTo == unteamedEveryone || p.Admin}
	if p.Admin {
		// An administrator without a cross-team role administers their
		// own teams: everything, within them.
		p = sdk.Policy{}
		for _, t := range sdk.RecordTypes {
			for _, a := range sdk.Actions {
				p.SetRule(t, a, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondEveryone, Origin: id}}})
			}
		}
	}
	for t, actions := range p.Rules {
		for a, r := range actions {
			if a == sdk.ActionAdd {
				continue
			}
			r.All = append(r.All, own)
			p.Rules[t][a] = r
		}
	}
	return p, nil
}
