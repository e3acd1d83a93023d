package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// Who sees the records without a team.
const (
	unteamedEveryone = "everyone" // every user of the install
	unteamedAdmins   = "admins"   // administrators and cross-team roles
)

// settings are the plugin's settings for one install.
type settings struct {
	// UnteamedVisibleTo says who sees (and acts on) records without a
	// team: everyone, or admins.
	UnteamedVisibleTo string `json:"unteamed_visible_to"`
	// CrossTeamRoles see and act on every team's records and may move
	// records between teams.
	CrossTeamRoles []string `json:"cross_team_roles"`
	// AssignMovesTeam: assigning a record to a user outside its team moves
	// it to the assignee's primary team instead of being refused.
	AssignMovesTeam bool `json:"assign_moves_team"`
}

const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "unteamed_visible_to": {"enum": ["everyone", "admins"], "description": "Who sees records without a team: everyone, or only administrators and cross-team roles."},
    "cross_team_roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Roles that see every team and may move records between teams."},
    "assign_moves_team": {"type": "boolean", "description": "Assigning a record to a user outside its team moves it to the assignee's primary team (otherwise the assignment is refused)."}
  },
  "additionalProperties": false
}`

// parse reads settings, with the defaults for what they leave out, and
// checks what the schema checks too (the plugin must not trust that it
// ran).
func parse(raw json.RawMessage) (settings, error) {
	s := settings{UnteamedVisibleTo: unteamedEveryone, CrossTeamRoles: []string{"admin"}}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return s, sdk.SettingsError(err)
		}
	}
	if s.UnteamedVisibleTo != unteamedEveryone && s.UnteamedVisibleTo != unteamedAdmins {
		return s, fmt.Errorf("unteamed_visible_to: must be %q or %q, got %q", unteamedEveryone, unteamedAdmins, s.UnteamedVisibleTo)
	}
	return s, nil
}

// crossTeam reports whether a role sees every team.
func (s settings) crossTeam(role string) bool { return slices.Contains(s.CrossTeamRoles, role) }

// ValidateSettings checks the settings, and that the roles they name exist
// in the install.
func (teams) ValidateSettings(ctx context.Context, in sdk.Install, raw json.RawMessage) error {
	s, err := parse(raw)
	if err != nil {
		return err
	}
	roles, err := sdk.HostAPI(ctx).Roles(ctx, in.ID)
	if err != nil {
		return fmt.Errorf("the install's roles cannot be read: %w", err)
	}
	for i, role := range s.CrossTeamRoles {
		if !slices.ContainsFunc(roles, func(r sdk.Role) bool { return r.Name == role }) {
			return fmt.Errorf("cross_team_roles[%d]: no role %q in this install", i, role)
		}
	}
	return nil
}
