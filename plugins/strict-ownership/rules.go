package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// BeforeWrite keeps users whose scope is their own records from giving
// records to others, and assigns new records without an owner by the
// first assignment rule that matches.
func (strictOwnership) BeforeWrite(ctx context.Context, w sdk.Write) (sdk.WriteChange, error) {
	s, err := parse(w.Settings)
	if err != nil || w.After == nil {
		return sdk.WriteChange{}, err
	}
	if err := s.checkAssignment(ctx, w); err != nil {
		return sdk.WriteChange{}, err
	}
	if w.Operation != sdk.OpCreate || w.After.OwnerID != "" {
		return sdk.WriteChange{}, nil
	}
	return s.assign(ctx, w)
}

// checkAssignment refuses a user whose edit scope on the type is "own" an
// assignment to anyone but themselves, unless their role may reassign.
func (s settings) checkAssignment(ctx context.Context, w sdk.Write) error {
	if w.User.ID == "" || w.After.OwnerID == "" || w.After.OwnerID == w.User.ID {
		return nil
	}
	if w.Before != nil && w.Before.OwnerID == w.After.OwnerID {
		return nil // the owner does not change
	}
	if s.Roles[w.User.Role][w.After.Type].Edit != scopeOwn {
		return nil
	}
	if may, err := sdk.RoleHas(ctx, w.Install.ID, w.User.Role, sdk.CapAdmin, sdk.CapReassign); err != nil || may {
		return err
	}
	return sdk.Deny("assign_own_only", "your role may assign %s records only to yourself", w.After.Type)
}

// firedKey keeps, from the write to its event, which rule assigned a new
// record, so that the after-write hook audits it once the record exists.
func firedKey(recordID string) string { return "fired:" + recordID }

// fired is what the audit log says of a rule that assigned a record.
type fired struct {
	Rule    int    `json:"rule"`
	Name    string `json:"name,omitempty"`
	OwnerID string `json:"owner_id"`
}

// assign gives a new record the owner of the first rule that matches it.
func (s settings) assign(ctx context.Context, w sdk.Write) (sdk.WriteChange, error) {
	for i, r := range s.AssignmentRules {
		if r.Type != w.After.Type || !r.matches(w.After.Data) {
			continue
		}
		owner, err := s.assignee(ctx, w.Install.ID, i, r)
		if err != nil || owner == "" {
			return sdk.WriteChange{}, err
		}
		// A create runs its before-write hooks before its transaction, so
		// the host API may be written to here.
		note, _ := json.Marshal(fired{Rule: i, Name: r.Name, OwnerID: owner})
		if _, _, err := sdk.HostAPI(ctx).KVSet(ctx, w.Install.ID, firedKey(w.After.ID), note, sdk.KVSetOptions{TTL: 24 * time.Hour}); err != nil {
			return sdk.WriteChange{}, err
		}
		return sdk.WriteChange{OwnerID: &owner}, nil
	}
	return sdk.WriteChange{}, nil
}

// assignee is the owner rule i gives: its user, or the next member of its
// team in turn (a counter per rule, advanced with compare-and-set so that
// concurrent creates on any replica take turns). A team without members
// assigns nobody.
func (s settings) assignee(ctx context.Context, installID string, i int, r rule) (string, error) {
	if r.AssignTo.User != "" {
		return r.AssignTo.User, nil
	}
	host := sdk.HostAPI(ctx)
	teams, err := host.Teams(ctx, installID)
	if err != nil {
		return "", err
	}
	var members []string
	for _, t := range teams {
		if t.ID == r.AssignTo.Team {
			for _, m := range t.Members {
				members = append(members, m.UserID)
			}
		}
	}
	if len(members) == 0 {
		return "", nil
	}
	slices.Sort(members)
	key := "round-robin:" + strconv.Itoa(i) + ":" + r.AssignTo.Team
	for {
		v, found, err := host.KVGet(ctx, installID, key)
		if err != nil {
			return "", err
		}
		turn, version := 0, int64(0)
		if found {
			turn, _ = strconv.Atoi(string(v.Value))
			version = v.Version
		}
		_, stored, err := host.KVSet(ctx, installID, key, []byte(strconv.Itoa(turn+1)), sdk.KVSetOptions{IfVersion: &version})
		if err != nil {
			return "", err
		}
		if stored {
			return members[turn%len(members)], nil
		}
	}
}

// matches reports whether data meets every condition of the rule.
func (r rule) matches(data map[string]any) bool {
	for _, m := range r.Match {
		v, ok := data[m.Field]
		if !ok {
			return false
		}
		switch m.Op {
		case "equals":
			if !sameValue(v, m.Value) {
				return false
			}
		case "in":
			list, _ := m.Value.([]any)
			if !slices.ContainsFunc(list, func(x any) bool { return sameValue(v, x) }) {
				return false
			}
		case "prefix":
			sv, ok := v.(string)
			prefix, _ := m.Value.(string)
			if !ok || !strings.HasPrefix(sv, prefix) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// sameValue compares two JSON values: numbers (json.Number, in records'
// data and in the settings alike) by their exact value, so that 1 and 1.0
// are the same; anything else by type and text.
func sameValue(a, b any) bool {
	x, aNumber := a.(json.Number)
	y, bNumber := b.(json.Number)
	if aNumber || bNumber {
		return aNumber && bNumber && sdk.NumbersEqual(x, y)
	}
	return fmt.Sprint(a) == fmt.Sprint(b) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

// AfterWrite audits the rule that assigned a new record, once. Events may
// come again: the note is removed once the audit is written, and a second
// delivery finds none.
func (strictOwnership) AfterWrite(ctx context.Context, e sdk.WriteEvent) error {
	if e.Operation != sdk.OpCreate || e.After == nil {
		return nil
	}
	host := sdk.HostAPI(ctx)
	v, found, err := host.KVGet(ctx, e.Install.ID, firedKey(e.After.ID))
	if err != nil || !found {
		return err
	}
	var f fired
	if err := json.Unmarshal(v.Value, &f); err != nil {
		return host.KVDelete(ctx, e.Install.ID, firedKey(e.After.ID))
	}
	ref := sdk.Ref{Type: e.After.Type, ID: e.After.ID}
	err = host.Audit(ctx, e.Install.ID, sdk.AuditEntry{Action: "assignment_rule.fired", Record: &ref, ActorID: e.User.ID,
		Detail: map[string]any{"rule": f.Rule, "name": f.Name, "owner_id": f.OwnerID}})
	if err != nil {
		return err
	}
	return host.KVDelete(ctx, e.Install.ID, firedKey(e.After.ID))
}
