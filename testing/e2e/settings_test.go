package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/testing/harness"
)

// TestSettingsErrors sends invalid settings to the real host running the
// real delegation and strict-ownership binaries, on SQLite and MySQL:
// every refusal is 400 invalid_settings naming the key and what it must
// be, never in Go's words, whether the schema refuses the settings (in
// the host) or the plugin does (in its process, asking the host about
// the install's roles); nothing refused is stored.
func TestSettingsErrors(t *testing.T) {
	dir := harness.PluginDir(t, "delegation", "strict-ownership")
	const types = `"lead", "contact", "account", "opportunity" or "activity"`
	cases := []struct {
		name, path, body, want string
	}{
		{"Huge", "delegation", `{"max_days":1e400}`, "settings of delegation: max_days: must be a whole number from 1 to 3650"},
		{"HugeInteger", "delegation", `{"max_days":99999999999999999999}`, "settings of delegation: max_days: must be a whole number from 1 to 3650"},
		{"NegativeZero", "delegation", `{"max_days":-0}`, "settings of delegation: max_days: must be a whole number from 1 to 3650"},
		{"Fraction", "delegation", `{"extension_days":1.5}`, "settings of delegation: extension_days: must be a whole number from 0 to 3650"},
		{"HugeInMap", "delegation", `{"default_days":{"lead":-1e1000000}}`, "settings of delegation: default_days.lead: must be a whole number from 1 to 3650"},
		{"UnknownType", "delegation", `{"default_days":{"lemon":3}}`, "settings of delegation: default_days.lemon: unknown key; a key here must be " + types},
		{"DefaultOverMax", "delegation", `{"max_days":20}`, "settings of delegation: default_days.contact: must be a whole number of days " +
			"from 1 to max_days (20), not 30; give the type its own default_days or raise max_days"},
		{"ControlCharacter", "delegation", `{"expiry_field":"due\u0000"}`, "settings of delegation: expiry_field: must be text without control characters"},
		{"NestedWrongShape", "delegation", `{"disabled":{"lead":{"roles":[["intern"]]}}}`,
			"settings of delegation: disabled.lead.roles[0]: must be a non-empty string"},
		{"UnknownRole", "delegation", `{"delegate_roles":["director"]}`,
			`settings of delegation: delegate_roles[0]: must be a role of this install; there is no role "director"`},
		{"UnknownSetting", "delegation", `{"maxdays":30}`, "settings of delegation: maxdays: unknown setting; the settings are actions, " +
			"default_days, delegate_roles, disabled, expiry_field, extension_days and max_days"},
		{"NotAnObject", "delegation", `[1e400]`, "settings: must be a JSON object"},
		{"Scope", "strict-ownership", `{"roles":{"member":{"lead":{"view":"mine"}}}}`,
			`settings of strict-ownership: roles.member.lead.view: must be "all", "own", "reports", "role" or "none"`},
		{"StrictUnknownRole", "strict-ownership", `{"roles":{"sales rep":{}}}`, `settings of strict-ownership: roles["sales rep"]: ` +
			`unknown key; a key here must be a role of this install, and there is no role "sales rep"`},
		{"HugeMatchValue", "strict-ownership", `{"assignment_rules":[{"type":"lead","match":[{"field":"n","op":"equals","value":1e400}],"assign_to":{"user":"u"}}]}`,
			"settings of strict-ownership: assignment_rules[0].match[0].value: must be a number from -1.7e308 to 1.7e308"},
		{"InNeedsAList", "strict-ownership", `{"assignment_rules":[{"type":"lead","match":[{"field":"n","op":"in","value":1}],"assign_to":{"user":"u"}}]}`,
			`settings of strict-ownership: assignment_rules[0].match[0].value: must be a list when op is "in"`},
	}
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "crmguard.db")
			if driver == "mysql" {
				dsn = storetest.MySQLDSN(t)
			}
			c := harness.NewCLI(t, driver, dsn, "CRMGUARD_PLUGIN_DIR="+dir)
			c.Must("migrate")
			c.CreateInstalls([]string{"acme"})
			srv := c.Serve()
			admin := c.Login(t, srv.Base, "acme", "admin@acme.test")
			const valid = `{"max_days":30,"default_days":{"lead":3,"contact":30,"account":30,"opportunity":30,"activity":3}}`
			admin.Must(200, "PUT", "/v1/plugins/delegation/settings", json.RawMessage(valid))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := admin.Must(400, "PUT", "/v1/plugins/"+tc.path+"/settings", json.RawMessage(tc.body))
					var body struct {
						Error struct{ Code, Message string }
					}
					if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Code != "invalid_settings" || body.Error.Message != tc.want {
						t.Fatalf("got  %s\nwant %s", r.Body, tc.want)
					}
					for _, w := range []string{"Go struct", "json:", "int64", "float64", "unmarshal"} {
						if strings.Contains(body.Error.Message, w) {
							t.Fatalf("%q speaks Go (%q)", body.Error.Message, w)
						}
					}
				})
			}
			if r := admin.Must(200, "GET", "/v1/plugins/delegation/settings", nil); !strings.Contains(string(r.Body), `"max_days":30`) {
				t.Fatalf("settings after the refusals: %s", r.Body)
			}
			if r := admin.Must(400, "PUT", "/v1/settings", json.RawMessage(`{"assign_by":1e400}`)); r.ErrorCode() != "invalid_settings" ||
				!strings.Contains(string(r.Body), `assign_by: must be \"admins\", \"owners\" or \"everyone\"`) {
				t.Fatalf("host settings: %s", r.Body)
			}
		})
	}
}
