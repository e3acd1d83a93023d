// Command teams is the crmguard plugin for several isolated teams in one
// install (CRM "Sites and Teams"): a member sees and acts only on the
// records of their own teams, roles named in the settings see every team,
// new records go to their creator's primary team, and moving a record to
// another team is for those cross-team roles.
//
// See settings.go for the settings, policy.go for who sees what,
// writes.go for the rules on creation, moves and assignment, and api.go
// for the routes.
package main

import (
	"encoding/json"

	"github.com/crmguard/crmguard/sdk"
)

// id is the plugin's id: the origin of its conditions.
const id = "teams"

type teams struct{}

func (teams) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID:      id,
		Name:    "Teams",
		Version: "1.0.0",
		Description: "Several isolated teams in one install: members see only their teams' records, " +
			"cross-team roles see all, records get a team on creation and moves between teams are controlled.",
		// After strict-ownership: the team constraint narrows whatever the
		// plugins before it allow.
		Priority:        20,
		SettingsSchema:  json.RawMessage(settingsSchema),
		DefaultSettings: json.RawMessage(`{"unteamed_visible_to":"everyone","cross_team_roles":["admin"],"assign_moves_team":false}`),
	}
}

func main() { sdk.Serve(teams{}) }
