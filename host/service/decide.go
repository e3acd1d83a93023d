package service

import (
	"context"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// viewer is a principal with their effective permissions: every access
// decision of a request goes through it, for one record (decide) or for a
// list (filter).
type viewer struct {
	installID string
	policy    sdk.Policy
	subject   access.Subject
	needs     access.Needs
	seesAll   []sdk.RecordType // the types of which the viewer may see every record
	hierarchy *crm.Hierarchy   // nil unless an active plugin of the install is given users
	rolePeers []string         // worked out with hierarchy
	now       time.Time
	target    access.Target // where the install's records are, for lists
}

// factSource loads what a policy can ask about a record beyond its own
// columns.
type factSource interface {
	grants(ctx context.Context, r crm.Record, now time.Time) ([]crm.Grant, error)
	// parent returns r's parent and the source of the parent's own facts.
	parent(ctx context.Context, r crm.Record, needGrants bool) (crm.Record, factSource, error)
}

// dbFacts reads facts from the database (or a transaction's view of it):
// what a write decides on.
type dbFacts struct{ q *store.Queries }

func (d dbFacts) grants(ctx context.Context, r crm.Record, now time.Time) ([]crm.Grant, error) {
	return d.q.RecordGrants(ctx, r.InstallID, r.Type, r.ID, now)
}

func (d dbFacts) parent(ctx context.Context, r crm.Record, _ bool) (crm.Record, factSource, error) {
	p, err := d.q.Record(ctx, r.InstallID, r.Parent.Type, r.Parent.ID, false)
	return p, d, err
}

// facts loads what the viewer's policy can ask about r: its grants and its
// parents, only when the policy looks at them.
func (v viewer) facts(ctx context.Context, src factSource, r crm.Record) (access.Facts, error) {
	return v.factsAt(ctx, src, r, v.needs.ParentDepth)
}

func (v viewer) factsAt(ctx context.Context, src factSource, r crm.Record, depth int) (access.Facts, error) {
	f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID,
		OtherOwners: r.OtherOwners, OtherTeams: r.OtherTeams}
	if v.needs.Grants {
		grants, err := src.grants(ctx, r, v.now)
		if err != nil {
			return f, err
		}
		for _, g := range grants {
			f.Grants = append(f.Grants, access.GrantFact{SubjectType: g.SubjectType, SubjectID: g.SubjectID, Actions: g.Actions, Source: g.Source, ExpiresAt: g.ExpiresAt})
		}
	}
	if depth > 0 && r.Parent != nil {
		parent, parentSrc, err := src.parent(ctx, r, v.needs.Grants)
		if err != nil {
			return f, fmt.Errorf("parent of %s: %w", r.ID, err)
		}
		pf, err := v.factsAt(ctx, parentSrc, parent, depth-1)
		if err != nil {
			return f, err
		}
		f.Parent = &pf
	}
	return f, nil
}

// decide decides one action on a record whose facts are loaded.
func (v viewer) decide(action sdk.Action, f access.Facts) access.Decision {
	return access.Evaluate(v.policy, v.subject, action, f, v.now)
}

// check loads r's facts and returns nil if the viewer may take action on
// it, crm.ErrRecordNotFound if they may not even see it, or a 403 saying why.
func (v viewer) check(ctx context.Context, src factSource, action sdk.Action, r crm.Record) error {
	if r.InstallID != v.installID {
		return crm.ErrRecordNotFound
	}
	f, err := v.facts(ctx, src, r)
	if err != nil {
		return err
	}
	if !v.decide(sdk.ActionView, f).Allowed {
		return crm.ErrRecordNotFound
	}
	if action == sdk.ActionView {
		return nil
	}
	if d := v.decide(action, f); !d.Allowed {
		return v.refusal(r.Type, action, d)
	}
	return nil
}

// checkAbsent answers for an id that names no record what check answers
// for a record the viewer may not see, after the same work: it loads the
// facts a decision asks about (a record with nothing to it has none) and
// decides on them, so that the time a not-found answer takes does not
// tell a hidden record from a missing one (DESIGN §7).
func (v viewer) checkAbsent(ctx context.Context, src factSource, ref crm.Ref) error {
	f, err := v.facts(ctx, src, crm.Record{InstallID: v.installID, Type: ref.Type, ID: ref.ID})
	if err != nil {
		return err
	}
	_ = v.decide(sdk.ActionView, f)
	return crm.ErrRecordNotFound
}

// refusal turns a denial of a visible record into a 403 with a code that
// says what to do about it.
func (v viewer) refusal(t sdk.RecordType, action sdk.Action, d access.Decision) error {
	if d.Reason.Failed != nil && d.Reason.Failed.Kind == sdk.CondTeamIn {
		return crm.Errorf(crm.KindForbidden, "team_mismatch", "this record belongs to a team you are not in")
	}
	if action == sdk.ActionAssign && len(v.policy.Rule(t, sdk.ActionAssign).Any) == 0 {
		return crm.Errorf(crm.KindForbidden, "assign_not_allowed", "your role may not assign records in this install")
	}
	if len(v.policy.Rule(t, action).Any) == 0 {
		return crm.Errorf(crm.KindForbidden, "action_not_allowed", "you may not %s %s records in this install", action, t)
	}
	return crm.Errorf(crm.KindForbidden, "not_owner", "only the record's assignee or an administrator may change this record")
}

// branches returns the records the viewer may take action on (view is
// always required too) as an OR of branches, each an AND of predicates;
// false when there are none. With no restriction it returns no branches.
func (v viewer) branches(t sdk.RecordType, action sdk.Action) ([][]store.Predicate, bool) {
	kind, parts := access.ListBranchesFor(v.target, v.policy, v.subject, action, t, v.now)
	switch kind {
	case access.FilterNone:
		return nil, false
	case access.FilterAll:
		return nil, true
	}
	out := make([][]store.Predicate, len(parts))
	for i, c := range parts {
		out[i] = []store.Predicate{{SQL: c.SQL, Args: c.Args, Index: c.Index}}
	}
	return out, true
}
