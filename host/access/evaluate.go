package access

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// Subject is the user a decision is about: their id and their teams.
type Subject struct {
	UserID string
	Teams  []string
}

// Facts are what a decision needs to know of a record: who owns and created
// it, its team, its parent (as far up as parent_allows may look) and its
// grants.
type Facts struct {
	Type      sdk.RecordType
	ID        string
	OwnerID   string // empty: unassigned
	CreatedBy string
	TeamID    string // empty: no team
	// OtherOwners and OtherTeams are a record's owners and teams beyond
	// OwnerID and TeamID: an adopted CRM may keep several in a join table.
	OtherOwners []string
	OtherTeams  []string
	Parent      *Facts // nil: no parent, or not loaded beyond sdk.MaxParentDepth
	Grants      []GrantFact
}

// NewRecord are the facts of a record of type t that the subject is about
// to add with nothing else said of it: created by them, unassigned,
// without team or parent, and, not yet created, without grants. The add
// rule is decided on them when no record is proposed.
func NewRecord(t sdk.RecordType, s Subject) Facts {
	return Facts{Type: t, CreatedBy: s.UserID}
}

// MayAdd returns the record types whose add rule allows the subject a new
// record with nothing else said of it (NewRecord), in the order of
// sdk.RecordTypes.
func MayAdd(p sdk.Policy, s Subject, now time.Time) []sdk.RecordType {
	out := []sdk.RecordType{}
	for _, t := range sdk.RecordTypes {
		if Evaluate(p, s, sdk.ActionAdd, NewRecord(t, s), now).Allowed {
			out = append(out, t)
		}
	}
	return out
}

// GrantFact is a stored grant on a record.
type GrantFact struct {
	SubjectType string // "user" or "team"
	SubjectID   string
	Actions     []sdk.Action
	Source      string
	ExpiresAt   *time.Time // nil: never expires
}

// The subject types of grants.
const (
	SubjectUser = "user"
	SubjectTeam = "team"
)

// Decision is the answer for one action on one record, with the reason.
type Decision struct {
	Allowed bool
	Reason  Reason
}

// Reason says which part of the policy decided, for explanations and for
// the error code of a refusal.
type Reason struct {
	// Admin is true when the decision came from the policy's Admin flag.
	Admin bool `json:"admin,omitempty"`
	// Action is the action whose rule decided; for delete it is edit when
	// the edit rule refused (delete is never allowed where edit is not).
	Action sdk.Action `json:"action"`
	// Allowed names the condition of Any that held, when allowed.
	Allowed *CondRef `json:"allowed_by,omitempty"`
	// Failed names the constraint of All that did not hold, when a
	// condition of Any held but a constraint refused.
	Failed *CondRef `json:"failed,omitempty"`
	// Type is the record type whose rule decided.
	Type sdk.RecordType `json:"type,omitempty"`
	// Missing is true when there was no record to decide about (the
	// caller sets it: a record the user may not see reads as missing).
	Missing bool `json:"missing,omitempty"`
	// DeleteNeedsEdit is true when delete was refused because edit was.
	DeleteNeedsEdit bool `json:"delete_needs_edit,omitempty"`
}

// Text is the reason as a sentence. It is written only when asked for, so
// that deciding costs no formatting.
func (r Reason) Text() string {
	var text string
	switch {
	case r.Missing:
		return "no such record"
	case r.Admin:
		return "administrators may do everything within their install"
	case r.Allowed == nil:
		text = fmt.Sprintf("no condition of the %s %s rule holds", r.Type, r.Action)
	case r.Failed != nil:
		text = fmt.Sprintf("the %s %s rule's constraint %s does not hold", r.Type, r.Action, r.Failed.Kind)
	default:
		text = fmt.Sprintf("%s holds for %s %s", r.Allowed.Kind, r.Type, r.Action)
	}
	if r.DeleteNeedsEdit {
		text = "deleting needs the right to edit, and " + text
	}
	return text
}

// MarshalJSON adds the sentence to the reason's fields.
func (r Reason) MarshalJSON() ([]byte, error) {
	type fields Reason // without this method
	return json.Marshal(struct {
		fields
		Text string `json:"text"`
	}{fields(r), r.Text()})
}

// CondRef points at a condition of a rule.
type CondRef struct {
	Index  int          `json:"index"`
	Kind   sdk.CondKind `json:"kind"`
	Origin string       `json:"origin,omitempty"`
}

// Evaluate decides whether the subject may take action on the record
// described by f under policy p, at time now (grants expire against it).
func Evaluate(p sdk.Policy, s Subject, action sdk.Action, f Facts, now time.Time) Decision {
	if p.Admin {
		return Decision{Allowed: true, Reason: Reason{Admin: true, Action: action, Type: f.Type}}
	}
	e := evaluator{p: p, s: s, now: now}
	if action == sdk.ActionDelete {
		if d := e.rule(f, sdk.ActionEdit, sdk.MaxParentDepth); !d.Allowed {
			d.Reason.DeleteNeedsEdit = true
			return d
		}
	}
	return e.rule(f, action, sdk.MaxParentDepth)
}

type evaluator struct {
	p   sdk.Policy
	s   Subject
	now time.Time
}

// allowed is the decision without explanation, as parent_allows needs it.
func (e evaluator) allowed(f Facts, action sdk.Action, budget int) bool {
	if action == sdk.ActionDelete && !e.rule(f, sdk.ActionEdit, budget).Allowed {
		return false
	}
	return e.rule(f, action, budget).Allowed
}

// rule evaluates the rule for action on f's type; budget is how many more
// parent levels parent_allows may look up.
func (e evaluator) rule(f Facts, action sdk.Action, budget int) Decision {
	r := e.p.Rule(f.Type, action)
	d := Decision{Reason: Reason{Action: action, Type: f.Type}}
	for i, c := range r.Any {
		if e.holds(c, f, action, budget) {
			d.Reason.Allowed = &CondRef{Index: i, Kind: c.Kind, Origin: c.Origin}
			break
		}
	}
	if d.Reason.Allowed == nil {
		return d
	}
	for i, c := range r.All {
		if !e.holds(c, f, action, budget) {
			d.Reason.Failed = &CondRef{Index: i, Kind: c.Kind, Origin: c.Origin}
			return d
		}
	}
	d.Allowed = true
	return d
}

func (e evaluator) holds(c sdk.Cond, f Facts, action sdk.Action, budget int) bool {
	switch c.Kind {
	case sdk.CondEveryone:
		return true
	case sdk.CondOwnerSelf:
		return f.ownedBy(func(u string) bool { return u == e.s.UserID })
	case sdk.CondOwnerIn:
		return f.ownedBy(func(u string) bool { return slices.Contains(c.Users, u) })
	case sdk.CondUnowned:
		return f.OwnerID == ""
	case sdk.CondCreatorSelf:
		return f.CreatedBy != "" && f.CreatedBy == e.s.UserID
	case sdk.CondCreatorUnowned:
		return f.OwnerID == "" && f.CreatedBy != "" && f.CreatedBy == e.s.UserID
	case sdk.CondTeamIn:
		if f.TeamID == "" {
			return c.Unteamed
		}
		return slices.Contains(c.Teams, f.TeamID) || slices.ContainsFunc(f.OtherTeams, func(t string) bool { return slices.Contains(c.Teams, t) })
	case sdk.CondGranted:
		return slices.ContainsFunc(f.Grants, func(g GrantFact) bool { return e.grants(g, c, action) })
	case sdk.CondParentAllows:
		depth := min(c.Depth, budget)
		return depth > 0 && f.Parent != nil && e.allowed(*f.Parent, action, depth-1)
	}
	return false // an unknown kind never allows (Validate rejects it)
}

// ownedBy reports whether one of the record's owners meets is.
func (f Facts) ownedBy(is func(string) bool) bool {
	return f.OwnerID != "" && (is(f.OwnerID) || slices.ContainsFunc(f.OtherOwners, is))
}

// grants reports whether g gives the subject action under condition c.
func (e evaluator) grants(g GrantFact, c sdk.Cond, action sdk.Action) bool {
	forSubject := (g.SubjectType == SubjectUser && g.SubjectID == e.s.UserID) ||
		(g.SubjectType == SubjectTeam && slices.Contains(e.s.Teams, g.SubjectID))
	return forSubject &&
		slices.Contains(g.Actions, action) &&
		(g.ExpiresAt == nil || g.ExpiresAt.After(e.now)) &&
		slices.Contains(c.Sources, g.Source)
}
