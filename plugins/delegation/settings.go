package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

// settings are the plugin's settings for one install.
type settings struct {
	// DefaultDays is how long a delegation lasts when its expiry is not
	// given, per record type; MaxDays bounds every delegation.
	DefaultDays map[sdk.RecordType]int `json:"default_days"`
	MaxDays     int                    `json:"max_days"`
	// Actions are what a delegation gives: view, or view and edit.
	Actions []sdk.Action `json:"actions"`
	// DelegateRoles may delegate every record they see; owners always may
	// delegate their own, admins everything.
	DelegateRoles []string `json:"delegate_roles"`
	// Disabled lists, per record type, the roles and teams whose users may
	// not delegate records of the type.
	Disabled map[sdk.RecordType]disabled `json:"disabled"`
	// ExpiryField names a date field of a record's data: a delegate who
	// sets it extends their delegation to that date plus ExtensionDays.
	// Empty: no extension.
	ExpiryField   string `json:"expiry_field"`
	ExtensionDays int    `json:"extension_days"`
}

type disabled struct {
	Roles []string `json:"roles,omitempty"`
	Teams []string `json:"teams,omitempty"`
}

const defaultSettings = `{"default_days":{"lead":14,"contact":30,"account":30,"opportunity":30,"activity":14},"max_days":90,` +
	`"actions":["view","edit"],"delegate_roles":["manager"],"disabled":{},"expiry_field":"","extension_days":7}`

const recordTypes = `["lead", "contact", "account", "opportunity", "activity"]`

const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "default_days": {"type": "object", "propertyNames": {"enum": ` + recordTypes + `}, "additionalProperties": {"type": "integer", "minimum": 1},
      "description": "Days a delegation lasts when no expiry is given, per record type."},
    "max_days": {"type": "integer", "minimum": 1, "description": "The longest a delegation may last, in days from now."},
    "actions": {"type": "array", "items": {"enum": ["view", "edit"]}, "minItems": 1, "uniqueItems": true, "description": "What a delegation gives: view, or view and edit."},
    "delegate_roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Roles that may delegate every record they see; owners may delegate their own, admins everything."},
    "disabled": {"type": "object", "propertyNames": {"enum": ` + recordTypes + `},
      "additionalProperties": {"type": "object", "properties": {
        "roles": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "teams": {"type": "array", "items": {"type": "string", "minLength": 1}}}, "additionalProperties": false},
      "description": "Per record type, the roles and teams whose users may not delegate."},
    "expiry_field": {"type": "string", "description": "A date field of the record's data; a delegate who sets it extends their delegation to it plus extension_days. Empty: no extension."},
    "extension_days": {"type": "integer", "minimum": 0, "description": "Days added to the record's expiry date when it extends a delegation."}
  },
  "additionalProperties": false
}`

// parse reads settings over the defaults and checks what the schema
// checks too (the plugin must not trust that it ran).
func parse(raw json.RawMessage) (settings, error) {
	var s settings
	if err := json.Unmarshal([]byte(defaultSettings), &s); err != nil {
		return s, err
	}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return s, sdk.SettingsError(err)
		}
	}
	if s.MaxDays < 1 {
		return s, fmt.Errorf("max_days: at least 1, got %d", s.MaxDays)
	}
	for t, days := range s.DefaultDays {
		if !slices.Contains(sdk.RecordTypes, t) {
			return s, fmt.Errorf("default_days: unknown record type %q", t)
		}
		if days < 1 || days > s.MaxDays {
			return s, fmt.Errorf("default_days.%s: %d days, must be 1 to max_days (%d)", t, days, s.MaxDays)
		}
	}
	if len(s.Actions) == 0 || !slices.Contains(s.Actions, sdk.ActionView) {
		return s, fmt.Errorf(`actions: ["view"] or ["view", "edit"]`)
	}
	for _, a := range s.Actions {
		if a != sdk.ActionView && a != sdk.ActionEdit {
			return s, fmt.Errorf("actions: %q is not view or edit", a)
		}
	}
	for t := range s.Disabled {
		if !slices.Contains(sdk.RecordTypes, t) {
			return s, fmt.Errorf("disabled: unknown record type %q", t)
		}
	}
	if s.ExtensionDays < 0 {
		return s, fmt.Errorf("extension_days: at least 0, got %d", s.ExtensionDays)
	}
	return s, nil
}

// days is how long a delegation of type t lasts by default.
func (s settings) days(t sdk.RecordType) int {
	if d, ok := s.DefaultDays[t]; ok {
		return d
	}
	return min(14, s.MaxDays)
}

// ValidateSettings checks the settings, and that the roles and teams they
// name exist in the install.
func (delegation) ValidateSettings(ctx context.Context, in sdk.Install, raw json.RawMessage) error {
	s, err := parse(raw)
	if err != nil {
		return err
	}
	host := sdk.HostAPI(ctx)
	roles, err := host.Roles(ctx, in.ID)
	if err != nil {
		return fmt.Errorf("the install's roles cannot be read: %w", err)
	}
	knownRole := func(name string) bool {
		return slices.ContainsFunc(roles, func(r sdk.Role) bool { return r.Name == name })
	}
	for i, role := range s.DelegateRoles {
		if !knownRole(role) {
			return fmt.Errorf("delegate_roles[%d]: no role %q in this install", i, role)
		}
	}
	var teams []sdk.Team
	for _, t := range sdk.RecordTypes {
		d := s.Disabled[t]
		for i, role := range d.Roles {
			if !knownRole(role) {
				return fmt.Errorf("disabled.%s.roles[%d]: no role %q in this install", t, i, role)
			}
		}
		if len(d.Teams) > 0 && teams == nil {
			if teams, err = host.Teams(ctx, in.ID); err != nil {
				return fmt.Errorf("the install's teams cannot be read: %w", err)
			}
		}
		for i, team := range d.Teams {
			if !slices.ContainsFunc(teams, func(x sdk.Team) bool { return x.ID == team }) {
				return fmt.Errorf("disabled.%s.teams[%d]: no team %s in this install", t, i, team)
			}
		}
	}
	return nil
}
