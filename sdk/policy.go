// Package sdk is what crmguard plugin authors import. This file defines the
// policy document (DESIGN §6): a user's effective permissions, as plain data
// that the host can both evaluate for one record and compile to SQL for a
// list. Plugins change the document; the host evaluates it.
package sdk

import (
	"errors"
	"fmt"
	"slices"
)

// RecordType is the kind of a CRM record.
type RecordType string

// The record types.
const (
	TypeLead        RecordType = "lead"
	TypeContact     RecordType = "contact"
	TypeAccount     RecordType = "account"
	TypeOpportunity RecordType = "opportunity"
	TypeActivity    RecordType = "activity"
)

// RecordTypes lists every record type.
var RecordTypes = []RecordType{TypeLead, TypeContact, TypeAccount, TypeOpportunity, TypeActivity}

// Action is something a user may do to a record.
type Action string

// The actions.
const (
	ActionView   Action = "view"
	ActionEdit   Action = "edit"
	ActionDelete Action = "delete"
	ActionAssign Action = "assign"
	ActionShare  Action = "share"
	// ActionAdd is creating a record of a type. Its rule is decided on the
	// record about to be created, before the plugins' before-write hooks
	// see it: its proposed owner, its creator (the user), team and parent.
	// A record not yet created has no grants, so granted never holds for
	// it; parent_allows asks the add rule of the parent's type about the
	// parent. Add has no list meaning: no list is filtered by it.
	ActionAdd Action = "add"
)

// Actions lists every action. Add comes last, so that the bits of the
// others in a stored grant's set keep their values.
var Actions = []Action{ActionView, ActionEdit, ActionDelete, ActionAssign, ActionShare, ActionAdd}

// CondKind is the kind of a condition. The set is closed: each kind has an
// evaluator and an SQL form in the host, proven to agree.
type CondKind string

// The condition kinds.
const (
	// CondEveryone always holds.
	CondEveryone CondKind = "everyone"
	// CondOwnerSelf holds when the user is the record's owner (assignee).
	CondOwnerSelf CondKind = "owner_self"
	// CondOwnerIn holds when the record's owner is one of Users.
	CondOwnerIn CondKind = "owner_in"
	// CondUnowned holds when the record has no owner.
	CondUnowned CondKind = "unowned"
	// CondCreatorSelf holds when the user created the record.
	CondCreatorSelf CondKind = "creator_self"
	// CondCreatorUnowned holds when the user created the record and it has
	// no owner: the creator's hold on a record until it is assigned.
	CondCreatorUnowned CondKind = "creator_unowned"
	// CondTeamIn holds when the record's team is one of Teams, or, with
	// Unteamed, when the record has no team: team isolation as one
	// constraint.
	CondTeamIn CondKind = "team_in"
	// CondGranted holds when an unexpired grant from one of Sources gives
	// the user, or one of the user's teams, the action on the record.
	CondGranted CondKind = "granted"
	// CondParentAllows holds when the action is allowed on the record's
	// parent, looking up at most Depth levels.
	CondParentAllows CondKind = "parent_allows"
)

// CondKinds lists every condition kind.
var CondKinds = []CondKind{CondEveryone, CondOwnerSelf, CondOwnerIn, CondUnowned, CondCreatorSelf, CondCreatorUnowned, CondTeamIn, CondGranted, CondParentAllows}

// MaxParentDepth bounds CondParentAllows.
const MaxParentDepth = 4

// Cond is one condition of a rule.
type Cond struct {
	Kind  CondKind `json:"kind"`
	Users []string `json:"users,omitempty"` // owner_in
	Teams []string `json:"teams,omitempty"` // team_in
	// Unteamed makes team_in hold for records without a team too.
	Unteamed bool     `json:"unteamed,omitempty"`
	Sources  []string `json:"sources,omitempty"` // granted: the plugins whose grants count
	Depth    int      `json:"depth,omitempty"`   // parent_allows
	// Origin says who added the condition ("base" or a plugin id), so that
	// an explanation can say where a decision came from.
	Origin string `json:"origin,omitempty"`
}

// Rule decides one action on one record type: allowed if at least one of
// Any holds (none: never) and every one of All holds (constraints, such as
// team isolation, that narrow whatever Any allows).
type Rule struct {
	Any []Cond `json:"any"`
	All []Cond `json:"all,omitempty"`
}

// Policy is a user's effective permissions within one install.
type Policy struct {
	// Admin allows everything within the install, never beyond it.
	Admin bool `json:"admin"`
	// Rules per record type and action; a missing rule allows nothing.
	Rules map[RecordType]map[Action]Rule `json:"rules"`
}

// Rule returns the rule for an action on a record type; a missing rule is
// the empty rule, which allows nothing.
func (p Policy) Rule(t RecordType, a Action) Rule {
	return p.Rules[t][a]
}

// SetRule sets the rule for an action on a record type.
func (p *Policy) SetRule(t RecordType, a Action, r Rule) {
	if p.Rules == nil {
		p.Rules = map[RecordType]map[Action]Rule{}
	}
	if p.Rules[t] == nil {
		p.Rules[t] = map[Action]Rule{}
	}
	p.Rules[t][a] = r
}

// Validate reports the first part of the document outside the closed sets
// of types, actions and condition kinds.
func (p Policy) Validate() error {
	for t, actions := range p.Rules {
		if !slices.Contains(RecordTypes, t) {
			return fmt.Errorf("policy: unknown record type %q", t)
		}
		for a, r := range actions {
			if !slices.Contains(Actions, a) {
				return fmt.Errorf("policy: %s: unknown action %q", t, a)
			}
			for _, c := range append(slices.Clone(r.Any), r.All...) {
				if err := c.validate(); err != nil {
					return fmt.Errorf("policy: %s %s: %w", t, a, err)
				}
			}
		}
	}
	return nil
}

func (c Cond) validate() error {
	if !slices.Contains(CondKinds, c.Kind) {
		return fmt.Errorf("unknown condition kind %q", c.Kind)
	}
	if c.Kind == CondParentAllows && (c.Depth < 1 || c.Depth > MaxParentDepth) {
		return fmt.Errorf("parent_allows: depth must be 1 to %d, got %d", MaxParentDepth, c.Depth)
	}
	if c.Kind == CondGranted && len(c.Sources) == 0 {
		return errors.New("granted: sources must name at least one plugin")
	}
	return nil
}
