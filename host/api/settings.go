package api

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/sdk"
)

// hostSettings are the keys of an install's own settings and what each
// must be, as a refusal says it.
var hostSettings = map[string]string{
	"assignment_enabled": "true or false",
	"assign_by":          `"admins", "owners" or "everyone"`,
	"timezone":           `the name of a time zone of the IANA database, such as "Europe/Berlin", "America/New_York" or "UTC"`,
}

// decodeSettingsChange reads the body of PUT /v1/settings. Every refusal
// of its content is 400 invalid_settings naming the key and what it must
// be, as for plugins' settings; a key that is absent or null is left as
// it is.
func decodeSettingsChange(c *gin.Context) (service.SettingsChange, error) {
	var change service.SettingsChange
	var raw json.RawMessage
	if err := decodeJSON(c, &raw); err != nil {
		return change, err
	}
	// Values stay raw until their key is known, so that no number is
	// read as a Go type first.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return change, crm.Invalid("invalid_settings", "settings: must be a JSON object")
	}
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		var err error
		switch key {
		case "assignment_enabled":
			err = json.Unmarshal(fields[key], &change.AssignmentEnabled)
		case "assign_by":
			err = json.Unmarshal(fields[key], &change.AssignBy)
		case "timezone":
			err = json.Unmarshal(fields[key], &change.Timezone)
		default:
			return change, crm.Invalid("invalid_settings", "%s: unknown setting; the settings are assign_by, assignment_enabled and timezone", sdk.SettingsPath(key))
		}
		if err != nil {
			return change, crm.Invalid("invalid_settings", "%s: must be %s", key, hostSettings[key])
		}
	}
	return change, nil
}
