package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/crmguard/crmguard/sdk"
)

// The scopes a role may have on a record type, for one action.
const (
	scopeAll     = "all"     // every record of the type
	scopeOwn     = "own"     // the records the user owns (see owns)
	scopeReports = "reports" // own, and those owned by the user's reports
	scopeRole    = "role"    // own, and those owned by the users who share the user's role
	scopeNone    = "none"    // none, unless shared
)

// What the children setting gives a child record's type: its records
// follow their parent for view, or for view and edit.
const (
	followView     = "view"
	followViewEdit = "view+edit"
)

// scopes is a role's access to one record type; an empty scope keeps the
// rule the plugins before this one (or the base) left.
type scopes struct {
	View   string `json:"view,omitempty"`
	Edit   string `json:"edit,omitempty"`
	Delete string `json:"delete,omitempty"`
	// Add is all or none only: a record being added is nobody's yet, so
	// own and reports mean nothing for it.
	Add string `json:"add,omitempty"`
}

// settings are the plugin's settings for one install.
type settings struct {
	// Roles maps a role to its scopes per record type; roles without an
	// entry keep the base behaviour.
	Roles map[string]map[sdk.RecordType]scopes `json:"roles"`
	// CreatorKeepsAccess: the creator of a record keeps owning it after
	// it is assigned to someone else (otherwise only while unassigned).
	CreatorKeepsAccess bool `json:"creator_keeps_access"`
	// ShareRoles are the roles whose users may share the records they can
	// see; admins always may.
	ShareRoles []string `json:"share_roles"`
	// AssignmentRules give new records without an owner one; the first
	// that matches wins.
	AssignmentRules []rule `json:"assignment_rules"`
	// Children maps a type whose records have parents to what its records
	// inherit of their parent: followView or followViewEdit.
	Children map[sdk.RecordType]string `json:"children"`
}

// rule is an assignment rule: records of Type whose data match every
// condition are assigned to User, or in turn to the members of Team,
// when they are created and, if On says so, when their data change. An
// owner given by hand stays unless Override.
type rule struct {
	Name     string         `json:"name"`
	Type     sdk.RecordType `json:"type"`
	Match    []match        `json:"match"`
	AssignTo assignee       `json:"assign_to"`
	On       []string       `json:"on"`
	Override bool           `json:"override"`
}

// The writes an assignment rule may run on.
const (
	onCreate = "create" // a new record
	onUpdate = "update" // a change of a record's data
)

// runsOn are the writes the rule runs on: its On, new records by default.
func (r rule) runsOn() []string {
	if r.On == nil {
		return []string{onCreate}
	}
	return r.On
}

type assignee struct {
	User string `json:"user,omitempty"`
	Team string `json:"team,omitempty"` // round-robin over its members
}

// match is a condition on one field of a record's data.
type match struct {
	Field string `json:"field"`
	Op    string `json:"op"` // equals, in or prefix
	Value any    `json:"value"`
}

const recordTypes = `["lead", "contact", "account", "opportunity", "activity"]`

// childTypes are the record types that have parents in the CRM: contacts
// and opportunities under an account, activities under any record.
const childTypes = `["activity", "contact", "opportunity"]`

// settingsSchema is checked by the host before ValidateSettings, which
// checks what a schema cannot: that roles, users and teams exist.
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "roles": {
      "type": "object",
      "description": "Per role, per record type, the scope of view, edit and delete (all, own, reports, role or none) and of add (all or none).",
      "additionalProperties": {
        "type": "object",
        "propertyNames": {"enum": ` + recordTypes + `},
        "additionalProperties": {
          "type": "object",
          "properties": {"view": {"$ref": "#/$defs/scope"}, "edit": {"$ref": "#/$defs/scope"}, "delete": {"$ref": "#/$defs/scope"}, "add": {"$ref": "#/$defs/addScope"}},
          "additionalProperties": false
        }
      }
    },
    "children": {
      "type": "object",
      "description": "Per child record type, what its records inherit of their parent: view, or view+edit.",
      "propertyNames": {"enum": ` + childTypes + `},
      "additionalProperties": {"enum": ["view", "view+edit"]}
    },
    "creator_keeps_access": {"type": "boolean", "description": "The creator keeps owning a record after it is assigned to someone else."},
    "share_roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Roles whose users may share what they see; admins always may."},
    "assignment_rules": {
      "type": "array",
      "description": "Ordered rules that assign records without an owner, when created or (with on) changed; the first that matches wins.",
      "items": {
        "type": "object",
        "properties": {
          "name": {"type": "string"},
          "type": {"enum": ` + recordTypes + `},
          "match": {
            "type": "array",
            "items": {
              "type": "object",
              "properties": {
                "field": {"type": "string", "minLength": 1},
                "op": {"enum": ["equals", "in", "prefix"]},
                "value": {}
              },
              "required": ["field", "op", "value"],
              "additionalProperties": false
            }
          },
          "assign_to": {
            "type": "object",
            "properties": {"user": {"type": "string", "minLength": 1}, "team": {"type": "string", "minLength": 1}},
            "minProperties": 1, "maxProperties": 1,
            "additionalProperties": false
          },
          "on": {"type": "array", "items": {"enum": ["create", "update"]}, "minItems": 1, "uniqueItems": true,
            "description": "The writes the rule runs on: a new record (create, the default) and a change of a record's data (update)."},
          "override": {"type": "boolean", "description": "The rule replaces an owner given by hand (by default such an owner stays)."}
        },
        "required": ["type", "assign_to"],
        "additionalProperties": false
      }
    }
  },
  "additionalProperties": false,
  "$defs": {"scope": {"enum": ["all", "own", "reports", "role", "none"]}, "addScope": {"enum": ["all", "none"]}}
}`

// schema checks settings before they are decoded, in the plugin as in
// the host.
var schema = sdk.MustCompileSettingsSchema(json.RawMessage(settingsSchema))

// parse reads settings. The schema checks every value on its own; what is
// left is how values fit together: scopes of one role, a condition's
// operator and value.
func parse(raw json.RawMessage) (settings, error) {
	s := settings{ShareRoles: []string{"admin", "manager"}}
	if len(raw) > 0 {
		if err := schema.Decode(raw, &s); err != nil {
			return s, err
		}
	}
	for _, role := range sortedKeys(s.Roles) {
		for _, t := range sortedKeys(s.Roles[role]) {
			sc := s.Roles[role][t]
			if sc.Delete != "" && sc.Edit != "" && !within(sc.Delete, sc.Edit) {
				return s, fmt.Errorf("%s: must reach no further than edit's %q, not %q: deleting needs the right to edit; with edit %q, delete may be %s",
					sdk.SettingsPath("roles", role, t, "delete"), sc.Edit, sc.Delete, sc.Edit, scopesWithin(sc.Edit))
			}
		}
	}
	for i, r := range s.AssignmentRules {
		for j, m := range r.Match {
			at := sdk.SettingsPath("assignment_rules", i, "match", j, "value")
			switch _, isList := m.Value.([]any); {
			case m.Op == "in" && !isList:
				return s, fmt.Errorf(`%s: must be a list when op is "in"`, at)
			case m.Op == "prefix":
				if _, ok := m.Value.(string); !ok {
					return s, fmt.Errorf(`%s: must be a string when op is "prefix"`, at)
				}
			}
		}
	}
	return s, nil
}

// scopeOrder lists the scopes from the narrowest.
var scopeOrder = []string{scopeNone, scopeOwn, scopeReports, scopeRole, scopeAll}

// within reports whether scope a reaches no further than scope b, for any
// user and records. none is within every scope, every scope within all,
// and own within reports and role; reports and role are not comparable:
// a user's reports need not share their role, nor their role peers report
// to them.
func within(a, b string) bool {
	switch {
	case a == b, a == scopeNone, b == scopeAll:
		return true
	case a == scopeOwn:
		return b == scopeReports || b == scopeRole
	}
	return false
}

// scopesWithin words the scopes within b, for a message.
func scopesWithin(b string) string {
	var out []string
	for _, a := range scopeOrder {
		if within(a, b) {
			out = append(out, strconv.Quote(a))
		}
	}
	if len(out) == 1 {
		return "only " + out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// ValidateSettings checks the settings, and that the roles, users and
// teams they name exist in the install.
func (strictOwnership) ValidateSettings(ctx context.Context, in sdk.Install, raw json.RawMessage) error {
	s, err := parse(raw)
	if err != nil {
		return err
	}
	host := sdk.HostAPI(ctx)
	roles, err := host.Roles(ctx, in.ID)
	if err != nil {
		return fmt.Errorf("the install's roles cannot be read: %w", err)
	}
	known := map[string]bool{}
	for _, r := range roles {
		known[r.Name] = true
	}
	for _, role := range sortedKeys(s.Roles) {
		if !known[role] {
			return fmt.Errorf("%s: unknown key; a key here must be a role of this install, and there is no role %q", sdk.SettingsPath("roles", role), role)
		}
	}
	for i, role := range s.ShareRoles {
		if !known[role] {
			return fmt.Errorf("%s: must be a role of this install; there is no role %q", sdk.SettingsPath("share_roles", i), role)
		}
	}
	var teams []sdk.Team
	for i, r := range s.AssignmentRules {
		if r.AssignTo.User != "" {
			if _, err := host.User(ctx, in.ID, r.AssignTo.User); err != nil {
				return fmt.Errorf("%s: must be the id of a user of this install; there is no user %q",
					sdk.SettingsPath("assignment_rules", i, "assign_to", "user"), r.AssignTo.User)
			}
			continue
		}
		if teams == nil {
			if teams, err = host.Teams(ctx, in.ID); err != nil {
				return fmt.Errorf("the install's teams cannot be read: %w", err)
			}
		}
		if !slices.ContainsFunc(teams, func(t sdk.Team) bool { return t.ID == r.AssignTo.Team }) {
			return fmt.Errorf("%s: must be the id of a team of this install; there is no team %q",
				sdk.SettingsPath("assignment_rules", i, "assign_to", "team"), r.AssignTo.Team)
		}
	}
	return nil
}
