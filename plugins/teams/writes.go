package main

import (
	"context"
	"errors"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// BeforeWrite keeps records in the teams of the people who work on them:
//   - a new record without a team goes to its creator's primary team; a
//     member may create records only in their own teams;
//   - moving a record out of its team needs a cross-team role (a member
//     may give a record without a team to one of their own teams);
//   - a record is assigned only to a member of its team, unless
//     assign_moves_team is on: then it moves to the assignee's primary
//     team (the host audits the move).
//
// Writes of the host itself (no user: an operator's command) pass.
func (teams) BeforeWrite(ctx context.Context, w sdk.Write) (sdk.WriteChange, error) {
	s, err := parse(w.Settings)
	if err != nil || w.After == nil || w.User.ID == "" {
		return sdk.WriteChange{}, err
	}
	cross := s.crossTeam(w.User.Role)
	var change sdk.WriteChange
	team := w.After.TeamID
	switch {
	case w.Operation == sdk.OpCreate && team == "":
		if len(w.User.Teams) > 0 {
			team = w.User.Teams[0]
			change.TeamID = &team
		} else if !cross && s.UnteamedVisibleTo == unteamedAdmins {
			return change, sdk.Deny("no_team", "you are in no team, and records without a team are for administrators; ask one to add you to a team")
		}
	case w.Operation == sdk.OpCreate:
		if !cross && !slices.Contains(w.User.Teams, team) {
			return change, sdk.Deny("team_mismatch", "you are not a member of team %s; create the record in one of your teams", team)
		}
	case w.Before != nil && w.Before.TeamID != team && !cross:
		if w.Before.TeamID != "" {
			return change, sdk.Deny("team_move_not_allowed", "moving a record to another team needs a cross-team role")
		}
		if !slices.Contains(w.User.Teams, team) {
			return change, sdk.Deny("team_mismatch", "you are not a member of team %s", team)
		}
	}
	assigned := w.After.OwnerID != "" && (w.Before == nil || w.Before.OwnerID != w.After.OwnerID)
	if !assigned || team == "" {
		return change, nil
	}
	owner, err := sdk.HostAPI(ctx).User(ctx, w.Install.ID, w.After.OwnerID)
	if errors.Is(err, sdk.ErrNotFound) {
		return change, nil // the host refuses an unknown owner itself
	}
	if err != nil {
		return change, err
	}
	switch {
	case slices.Contains(owner.Teams, team):
	case !s.AssignMovesTeam:
		return change, sdk.Deny("team_mismatch", "%s is not a member of the record's team", owner.DisplayName())
	case len(owner.Teams) == 0:
		return change, sdk.Deny("team_mismatch", "%s is in no team, so the record cannot move to theirs", owner.DisplayName())
	default:
		moved := owner.Teams[0]
		change.TeamID = &moved
	}
	return change, nil
}
