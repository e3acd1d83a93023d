// Command delegation is the crmguard plugin for temporary access to a
// record: instead of reassigning it, its owner (or a manager) gives
// another user view and edit until a date. Delegations are grants of
// this plugin, so they stop working the second they expire, whatever is
// cached, and are suspended while the plugin is deactivated.
//
// See settings.go for the settings, policy.go for what a delegation
// gives, delegate.go for the rules of one delegation, alerts.go for the
// e-mails, api.go, routes.go, bulk.go and admin.go for the routes, and
// extend.go for the extension of a delegation by an expiry date set on the
// record.
package main

import (
	"encoding/json"
	// Days in an expiry are days in the install's time zone: the plugin
	// knows every zone of the IANA database, on any machine.
	_ "time/tzdata"

	"github.com/crmguard/crmguard/sdk"
)

// id is the plugin's id: the source of its grants (delegations).
const id = "delegation"

type delegation struct{}

func (delegation) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID:      id,
		Name:    "Delegation",
		Version: "1.0.0",
		Description: "Temporary access to a record for another user, with expiry, defaults per record type, " +
			"e-mail alerts, bulk delegation, admin views, expiry extension and roles that may not delegate.",
		// After strict-ownership and teams: a delegation widens what a
		// user sees within the constraints (teams) the others set.
		Priority:        30,
		SettingsSchema:  json.RawMessage(settingsSchema),
		DefaultSettings: json.RawMessage(defaultSettings),
	}
}

func main() { sdk.Serve(delegation{}) }
