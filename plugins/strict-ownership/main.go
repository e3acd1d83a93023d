// Command strict-ownership is the crmguard plugin for strict ownership:
// per install, each role sees, edits and deletes all of a record type,
// only its own records, its own and its reports', its own and those of
// the others of its role, or none, and adds records of the type or not;
// child records (activities, contacts, opportunities) may follow their
// parent; users who may share give one user or team access to one record
// (shares); and records without an owner get one from ordered assignment
// rules, when created or when their data change.
//
// See settings.go for the settings, policy.go for who sees what,
// shares.go for the routes and rules.go for assignment.
package main

import (
	"encoding/json"

	"github.com/crmguard/crmguard/sdk"
)

// id is the plugin's id: the source of its grants (shares).
const id = "strict-ownership"

type strictOwnership struct{}

func (strictOwnership) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID:      id,
		Name:    "Strict ownership",
		Version: "1.0.0",
		Description: "Owner-only records per role and record type, manager visibility through reports, " +
			"manual sharing of single records and automatic assignment rules.",
		// Early in the chain: later plugins (teams, delegation) narrow or
		// widen what it leaves.
		Priority:        10,
		SettingsSchema:  json.RawMessage(settingsSchema),
		DefaultSettings: json.RawMessage(`{"roles":{},"creator_keeps_access":false,"share_roles":["admin","manager"],"assignment_rules":[],"children":{}}`),
	}
}

func main() { sdk.Serve(strictOwnership{}) }
