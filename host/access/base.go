package access

import (
	"slices"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// OriginBase marks the conditions of the base policy.
const OriginBase = "base"

// BasePolicy is the policy of a team CRM without plugins (DESIGN §3),
// built from the install's settings and the user's role:
//   - everyone sees every record of the install;
//   - an assigned record is edited or deleted only by its assignee, an
//     unassigned one by anyone; with assignment off, everyone edits all;
//   - who may assign follows assign_by: admins (nobody else), owners (who
//     may edit the record) or everyone;
//   - a role adds (creates) the record types it may add (crm.Role.Add:
//     every type unless it says otherwise); administrators add every type;
//   - administrators may do everything within their install.
//
// Whether assignment is on at all is a switch the caller checks before
// asking the policy; it binds administrators too.
func BasePolicy(s crm.Settings, role crm.Role) sdk.Policy {
	everyone := []sdk.Cond{{Kind: sdk.CondEveryone, Origin: OriginBase}}
	owners := []sdk.Cond{{Kind: sdk.CondOwnerSelf, Origin: OriginBase}, {Kind: sdk.CondUnowned, Origin: OriginBase}}
	edit := owners
	if !s.AssignmentEnabled {
		edit = everyone
	}
	var assign []sdk.Cond
	switch {
	case !s.AssignmentEnabled, s.AssignBy == crm.AssignByAdmins:
	case s.AssignBy == crm.AssignByEveryone:
		assign = everyone
	default:
		assign = edit
	}
	p := sdk.Policy{Admin: role.Has(crm.CapAdmin)}
	for _, t := range sdk.RecordTypes {
		p.SetRule(t, sdk.ActionView, sdk.Rule{Any: slices.Clone(everyone)})
		p.SetRule(t, sdk.ActionEdit, sdk.Rule{Any: slices.Clone(edit)})
		p.SetRule(t, sdk.ActionDelete, sdk.Rule{Any: slices.Clone(edit)})
		p.SetRule(t, sdk.ActionAssign, sdk.Rule{Any: slices.Clone(assign)})
		var add []sdk.Cond // an empty rule: never
		if role.MayAdd(t) {
			add = slices.Clone(everyone)
		}
		p.SetRule(t, sdk.ActionAdd, sdk.Rule{Any: add})
	}
	return p
}

// Needs says which facts beyond the record's own columns a policy can ask
// about, so that a caller loads grants and parents only when they matter.
type Needs struct {
	Grants      bool
	ParentDepth int
	// Teams is true when the policy asks which team a record is in.
	Teams bool
}

// NeedsOf returns what p can ask about any record.
func NeedsOf(p sdk.Policy) Needs {
	var n Needs
	if p.Admin {
		return n
	}
	note := func(conds []sdk.Cond) {
		for _, c := range conds {
			switch c.Kind {
			case sdk.CondGranted:
				n.Grants = true
			case sdk.CondParentAllows:
				n.ParentDepth = max(n.ParentDepth, min(c.Depth, sdk.MaxParentDepth))
			case sdk.CondTeamIn:
				n.Teams = true
			}
		}
	}
	for _, actions := range p.Rules {
		for _, r := range actions {
			note(r.Any)
			note(r.All)
		}
	}
	return n
}

// SuspendGrants keeps p from counting the grants of plugins that are not
// active (DESIGN §6: a deactivated plugin's grants stay stored and have no
// effect): a granted condition loses the sources for which active is
// false. Left with none, it can never hold: it drops out of a rule's Any,
// and a rule that requires it (All) allows nothing.
func SuspendGrants(p sdk.Policy, active func(source string) bool) sdk.Policy {
	out := sdk.Policy{Admin: p.Admin}
	keep := func(c sdk.Cond) (sdk.Cond, bool) {
		if c.Kind != sdk.CondGranted {
			return c, true
		}
		var sources []string
		for _, s := range c.Sources {
			if active(s) {
				sources = append(sources, s)
			}
		}
		c.Sources = sources
		return c, len(sources) > 0
	}
	for t, actions := range p.Rules {
		for a, r := range actions {
			var rule sdk.Rule
			for _, c := range r.Any {
				if c, ok := keep(c); ok {
					rule.Any = append(rule.Any, c)
				}
			}
			for _, c := range r.All {
				c, ok := keep(c)
				if !ok {
					rule = sdk.Rule{}
					break
				}
				rule.All = append(rule.All, c)
			}
			out.SetRule(t, a, rule)
		}
	}
	return out
}
