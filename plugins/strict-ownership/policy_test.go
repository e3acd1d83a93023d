package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/sdk"
)

// The people of the role and children tests: sam, sue and tom share the
// role "support", rex is in "sales", and mgr is a manager.
const (
	sam = "01J000000000000000000000S1"
	sue = "01J000000000000000000000S2"
	tom = "01J000000000000000000000S3"
	rex = "01J000000000000000000000R1"
	mgr = "01J000000000000000000000M1"
)

var (
	samUser = sdk.User{ID: sam, Role: "support", RolePeers: []string{sue, tom}}
	rexUser = sdk.User{ID: rex, Role: "sales"}
)

// record is a record's facts for the host's evaluator, with its parent.
func record(t sdk.RecordType, id, owner string, parent *access.Facts) access.Facts {
	return access.Facts{Type: t, ID: id, OwnerID: owner, CreatedBy: mgr, Parent: parent}
}

// may decides with the host's evaluator, parents included.
func may(p sdk.Policy, u sdk.User, a sdk.Action, f access.Facts) bool {
	return access.Evaluate(p, access.Subject{UserID: u.ID, Teams: u.Teams}, a, f, time.Now()).Allowed
}

func TestRoleScope(t *testing.T) {
	settings := json.RawMessage(`{"roles":{
		"support":{"opportunity":{"view":"role","edit":"role","delete":"own"}},
		"sales":{"opportunity":{"view":"role","edit":"role"}}}}`)
	t.Run("Shape", func(t *testing.T) {
		got := policyOf(t, settings, samUser).Rule(sdk.TypeOpportunity, sdk.ActionView).Any
		want := []sdk.Cond{
			{Kind: sdk.CondOwnerSelf, Origin: id}, {Kind: sdk.CondCreatorUnowned, Origin: id},
			{Kind: sdk.CondOwnerIn, Users: []string{sue, tom}, Origin: id},
			{Kind: sdk.CondGranted, Sources: []string{id}, Origin: id},
		}
		if !slices.EqualFunc(got, want, sameCond) {
			t.Fatalf("opportunity view of a support rep: %+v, want %+v", got, want)
		}
	})
	t.Run("WithoutPeersItIsOwn", func(t *testing.T) {
		own := json.RawMessage(`{"roles":{"sales":{"opportunity":{"view":"own","edit":"own"}}}}`)
		for _, a := range []sdk.Action{sdk.ActionView, sdk.ActionEdit} {
			got := policyOf(t, settings, rexUser).Rule(sdk.TypeOpportunity, a)
			want := policyOf(t, own, rexUser).Rule(sdk.TypeOpportunity, a)
			if !slices.EqualFunc(got.Any, want.Any, sameCond) {
				t.Fatalf("%s of a role nobody else has: %+v, want own's %+v", a, got.Any, want.Any)
			}
		}
	})
	for _, c := range []struct {
		name   string
		u      sdk.User
		action sdk.Action
		owner  string
		want   bool
	}{
		{"SeesOwn", samUser, sdk.ActionView, sam, true},
		{"SeesAPeers", samUser, sdk.ActionView, sue, true},
		{"EditsAPeers", samUser, sdk.ActionEdit, tom, true},
		{"DeletesOnlyOwn", samUser, sdk.ActionDelete, sue, false},
		{"DeletesOwn", samUser, sdk.ActionDelete, sam, true},
		{"DoesNotSeeAnotherRoles", samUser, sdk.ActionView, rex, false},
		{"OtherRoleDoesNotSeeSupports", rexUser, sdk.ActionView, sam, false},
		{"OtherRoleSeesOwn", rexUser, sdk.ActionView, rex, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := record(sdk.TypeOpportunity, "01J000000000000000000000O1", c.owner, nil)
			if got := may(policyOf(t, settings, c.u), c.u, c.action, f); got != c.want {
				t.Fatalf("allowed %v, want %v", got, c.want)
			}
		})
	}
}

// sameCond compares conditions field by field.
func sameCond(a, b sdk.Cond) bool {
	return a.Kind == b.Kind && slices.Equal(a.Users, b.Users) && slices.Equal(a.Teams, b.Teams) && a.Unteamed == b.Unteamed &&
		slices.Equal(a.Sources, b.Sources) && a.Depth == b.Depth && a.Origin == b.Origin
}

func TestChildrenFollowTheirParent(t *testing.T) {
	// Support reps own their opportunities and accounts only; activities
	// are theirs only too, unless children says otherwise.
	withChildren := func(children string) json.RawMessage {
		return json.RawMessage(`{"roles":{"support":{
			"account":{"view":"own","edit":"own","delete":"own"},
			"opportunity":{"view":"own","edit":"own","delete":"own"},
			"activity":{"view":"own","edit":"own","delete":"own"}}},
			"children":` + children + `}`)
	}
	samsOpp := record(sdk.TypeOpportunity, "01J000000000000000000000O1", sam, nil)
	rexsOpp := record(sdk.TypeOpportunity, "01J000000000000000000000O2", rex, nil)
	task := func(parent access.Facts) access.Facts {
		return record(sdk.TypeActivity, "01J000000000000000000000A1", mgr, &parent)
	}
	t.Run("Shape", func(t *testing.T) {
		p := policyOf(t, withChildren(`{"activity":"view"}`), samUser)
		parent := sdk.Cond{Kind: sdk.CondParentAllows, Depth: sdk.MaxParentDepth, Origin: id}
		if !slices.ContainsFunc(p.Rule(sdk.TypeActivity, sdk.ActionView).Any, func(c sdk.Cond) bool { return sameCond(c, parent) }) {
			t.Fatalf("activity view: %+v, want %+v among them", p.Rule(sdk.TypeActivity, sdk.ActionView).Any, parent)
		}
		for _, r := range []struct {
			t sdk.RecordType
			a sdk.Action
		}{{sdk.TypeActivity, sdk.ActionEdit}, {sdk.TypeActivity, sdk.ActionDelete}, {sdk.TypeOpportunity, sdk.ActionView}} {
			if slices.ContainsFunc(p.Rule(r.t, r.a).Any, func(c sdk.Cond) bool { return c.Kind == sdk.CondParentAllows }) {
				t.Fatalf("%s %s follows the parent: %+v", r.t, r.a, p.Rule(r.t, r.a).Any)
			}
		}
	})
	t.Run("View", func(t *testing.T) {
		p := policyOf(t, withChildren(`{"activity":"view"}`), samUser)
		if !may(p, samUser, sdk.ActionView, task(samsOpp)) {
			t.Fatal("sam does not see the task a manager added to sam's opportunity")
		}
		if may(p, samUser, sdk.ActionEdit, task(samsOpp)) {
			t.Fatal("view gave edit too")
		}
		if may(p, samUser, sdk.ActionView, task(rexsOpp)) {
			t.Fatal("sam sees the task of rex's opportunity")
		}
		if may(p, samUser, sdk.ActionView, record(sdk.TypeActivity, "01J000000000000000000000A2", mgr, nil)) {
			t.Fatal("sam sees a task without a parent")
		}
	})
	t.Run("ViewAndEdit", func(t *testing.T) {
		p := policyOf(t, withChildren(`{"activity":"view+edit"}`), samUser)
		if !may(p, samUser, sdk.ActionEdit, task(samsOpp)) {
			t.Fatal("sam may not edit the task of sam's opportunity")
		}
		if may(p, samUser, sdk.ActionDelete, task(samsOpp)) {
			t.Fatal("following the parent gave delete")
		}
		if may(p, samUser, sdk.ActionEdit, task(rexsOpp)) {
			t.Fatal("sam may edit the task of rex's opportunity")
		}
	})
	t.Run("WithoutChildrenNothingFollows", func(t *testing.T) {
		if may(policyOf(t, withChildren(`{}`), samUser), samUser, sdk.ActionView, task(samsOpp)) {
			t.Fatal("sam sees a manager's task without the children setting")
		}
	})
	t.Run("ThroughGrandparents", func(t *testing.T) {
		// sam's account holds mgr's opportunity, which holds mgr's task,
		// which holds mgr's follow-up: each is seen through the one above
		// when its type follows its parent, and not otherwise.
		account := record(sdk.TypeAccount, "01J000000000000000000000C1", sam, nil)
		opp := record(sdk.TypeOpportunity, "01J000000000000000000000O3", mgr, &account)
		taskOfOpp := task(opp)
		followUp := record(sdk.TypeActivity, "01J000000000000000000000A3", mgr, &taskOfOpp)
		for _, c := range []struct {
			children               string
			opp, task, followUpSee bool
		}{
			{`{"activity":"view","opportunity":"view"}`, true, true, true},
			{`{"activity":"view"}`, false, false, false},
			{`{"opportunity":"view"}`, true, false, false},
		} {
			p := policyOf(t, withChildren(c.children), samUser)
			got := []bool{may(p, samUser, sdk.ActionView, opp), may(p, samUser, sdk.ActionView, taskOfOpp), may(p, samUser, sdk.ActionView, followUp)}
			if want := []bool{c.opp, c.task, c.followUpSee}; !slices.Equal(got, want) {
				t.Errorf("children %s: sam sees the opportunity, task, follow-up: %v, want %v", c.children, got, want)
			}
		}
	})
	t.Run("UpToFourLevels", func(t *testing.T) {
		// Below sam's account: mgr's opportunity and a chain of mgr's
		// activities, each under the one before. A record inherits from
		// at most sdk.MaxParentDepth levels above it.
		p := policyOf(t, withChildren(`{"activity":"view","opportunity":"view"}`), samUser)
		account := record(sdk.TypeAccount, "01J000000000000000000000C1", sam, nil)
		above := record(sdk.TypeOpportunity, "01J000000000000000000000O3", mgr, &account)
		for level := 2; level <= sdk.MaxParentDepth+2; level++ {
			parent := above
			above = record(sdk.TypeActivity, fmt.Sprintf("01J0000000000000000000000%d", level), mgr, &parent)
			if got, want := may(p, samUser, sdk.ActionView, above), level <= sdk.MaxParentDepth; got != want {
				t.Errorf("an activity %d levels below sam's account: seen %v, want %v", level, got, want)
			}
		}
	})
	t.Run("AdminsUnchanged", func(t *testing.T) {
		admin := sdk.User{ID: mgr, Role: "admin"}
		if p := policyOf(t, withChildren(`{"activity":"view+edit"}`), admin); !p.Admin {
			t.Fatal("an admin lost admin")
		}
	})
}
