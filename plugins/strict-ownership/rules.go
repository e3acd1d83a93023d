package main

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// BeforeWrite keeps users whose scope is their own records from giving
// records to others, and runs the assignment rules: on a new record, and
// on a change of a record's data for the rules that ask for it.
func (strictOwnership) BeforeWrite(ctx context.Context, w sdk.Write) (sdk.WriteChange, error) {
	s, err := parse(w.Settings)
	if err != nil || w.After == nil {
		return sdk.WriteChange{}, err
	}
	if err := s.checkAssignment(ctx, w); err != nil {
		return sdk.WriteChange{}, err
	}
	switch {
	case w.Operation == sdk.OpCreate:
		return s.assign(ctx, w, onCreate)
	case w.Operation == sdk.OpUpdate && w.Before != nil && !reflect.DeepEqual(w.Before.Data, w.After.Data):
		// Only a change of the data: not a move between teams, nor an
		// assignment (OpAssign), which is someone's choice of owner.
		return s.assign(ctx, w, onUpdate)
	}
	return sdk.WriteChange{}, nil
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

// firedKey keeps, from the write to its event, which rule assigned a
// record, so that the after-write hook audits it once the write is
// committed: by the record for a new one, by the record and the version
// it had before for a change.
func firedKey(recordID string, before *sdk.Record) string {
	if before == nil {
		return "fired:" + recordID
	}
	return "fired:" + recordID + ":" + strconv.FormatInt(before.Version, 10)
}

// fired is what the audit log says of a rule that assigned a record.
type fired struct {
	Rule    int    `json:"rule"`
	Name    string `json:"name,omitempty"`
	OwnerID string `json:"owner_id"`
	On      string `json:"on"`
}

// assign gives the record being written the owner of the first rule that
// runs on the write (on) and matches its data. An owner the record has
// (given by hand, now or before) stays, unless the rule overrides it;
// and an owner the rule would give anyway (its user, a member of its
// team) stays too, so that a change of data does not pass a record
// round a team.
func (s settings) assign(ctx context.Context, w sdk.Write, on string) (sdk.WriteChange, error) {
	for i, r := range s.AssignmentRules {
		if r.Type != w.After.Type || !slices.Contains(r.runsOn(), on) || !r.matches(w.After.Data) {
			continue
		}
		if w.After.OwnerID != "" && !r.Override {
			return sdk.WriteChange{}, nil // the first rule that matches decides
		}
		owner, err := s.assignee(ctx, w.Install.ID, i, r, w.After.OwnerID)
		if err != nil || owner == "" || owner == w.After.OwnerID {
			return sdk.WriteChange{}, err
		}
		// The host runs before-write hooks before the write's
		// transaction, so the host API may be written to here.
		note, _ := json.Marshal(fired{Rule: i, Name: r.Name, OwnerID: owner, On: on})
		if _, _, err := sdk.HostAPI(ctx).KVSet(ctx, w.Install.ID, firedKey(w.After.ID, w.Before), note, sdk.KVSetOptions{TTL: 24 * time.Hour}); err != nil {
			return sdk.WriteChange{}, err
		}
		return sdk.WriteChange{OwnerID: &owner}, nil
	}
	return sdk.WriteChange{}, nil
}

// assignee is the owner rule i gives: its user, or the next member of its
// team in turn (a counter per rule, advanced with compare-and-set so that
// concurrent writes on any replica take turns) unless the current owner
// is a member already. A team without members assigns nobody.
func (s settings) assignee(ctx context.Context, installID string, i int, r rule, current string) (string, error) {
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
	if current != "" && slices.Contains(members, current) {
		return current, nil
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

// AfterWrite audits the rule that assigned a record, once. Events may
// come again: the note is removed once the audit is written, and a second
// delivery finds none. A note left by a write that was not committed, or
// not as the rule decided, is removed unaudited.
func (strictOwnership) AfterWrite(ctx context.Context, e sdk.WriteEvent) error {
	if (e.Operation != sdk.OpCreate && e.Operation != sdk.OpUpdate) || e.After == nil {
		return nil
	}
	host := sdk.HostAPI(ctx)
	key := firedKey(e.After.ID, e.Before)
	v, found, err := host.KVGet(ctx, e.Install.ID, key)
	if err != nil || !found {
		return err
	}
	var f fired
	if json.Unmarshal(v.Value, &f) == nil && f.OwnerID == e.After.OwnerID && (e.Before == nil || e.Before.OwnerID != e.After.OwnerID) {
		if f.On == "" {
			f.On = onCreate // a note from before rules ran on updates
		}
		ref := sdk.Ref{Type: e.After.Type, ID: e.After.ID}
		err = host.Audit(ctx, e.Install.ID, sdk.AuditEntry{Action: "assignment_rule.fired", Record: &ref, ActorID: e.User.ID,
			Detail: map[string]any{"rule": f.Rule, "name": f.Name, "owner_id": f.OwnerID, "on": f.On}})
		if err != nil {
			return err
		}
	}
	return host.KVDelete(ctx, e.Install.ID, key)
}
