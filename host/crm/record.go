package crm

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmguard/crmguard/sdk"
)

// RecordType is the kind of a CRM record (defined by the SDK, which plugins
// share with the host).
type RecordType = sdk.RecordType

// The record types crmguard serves.
const (
	TypeLead        = sdk.TypeLead
	TypeContact     = sdk.TypeContact
	TypeAccount     = sdk.TypeAccount
	TypeOpportunity = sdk.TypeOpportunity
	TypeActivity    = sdk.TypeActivity
)

// RecordTypes lists every record type.
var RecordTypes = sdk.RecordTypes

// ParseRecordType returns the record type named s.
func ParseRecordType(s string) (RecordType, error) {
	t := RecordType(s)
	if slices.Contains(RecordTypes, t) {
		return t, nil
	}
	return "", Invalid("invalid_record_type", "unknown record type %q; the record types are lead, contact, account, opportunity and activity", Truncate(s, 40))
}

// ParentTypes returns the types a record of type t may have as parent:
// contacts and opportunities belong to an account, an activity to any record,
// leads and accounts to nothing.
func ParentTypes(t RecordType) []RecordType {
	switch t {
	case TypeContact, TypeOpportunity:
		return []RecordType{TypeAccount}
	case TypeActivity:
		return RecordTypes
	}
	return nil
}

// ChildTypes returns the types whose records may have a record of type t as
// parent.
func ChildTypes(t RecordType) []RecordType {
	var out []RecordType
	for _, c := range RecordTypes {
		if slices.Contains(ParentTypes(c), t) {
			out = append(out, c)
		}
	}
	return out
}

// Action is something a user may do to a record.
type Action = sdk.Action

// The actions of the policy document.
const (
	ActionView   = sdk.ActionView
	ActionEdit   = sdk.ActionEdit
	ActionDelete = sdk.ActionDelete
	ActionAssign = sdk.ActionAssign
	ActionShare  = sdk.ActionShare
	ActionAdd    = sdk.ActionAdd
)

// Actions lists every action.
var Actions = sdk.Actions

// ActionBit is an action's bit in the stored set of a grant's actions.
func ActionBit(a Action) int {
	if i := slices.Index(Actions, a); i >= 0 {
		return 1 << i
	}
	return 0
}

// Ref points at a record.
type Ref struct {
	Type RecordType
	ID   string
}

// Record is a CRM row.
type Record struct {
	ID        string
	InstallID string
	Type      RecordType
	OwnerID   string // empty: unassigned
	CreatedBy string
	TeamID    string // empty: no team
	// OtherOwners and OtherTeams are the owners and teams beyond OwnerID
	// and TeamID of an adopted CRM's record kept in a join table.
	OtherOwners []string `json:",omitempty"`
	OtherTeams  []string `json:",omitempty"`
	Parent      *Ref
	Data        map[string]any
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Name is the record's display name, the data field "name".
func (r Record) Name() string { return stringField(r.Data, "name") }

// Email is the record's e-mail address, the data field "email", if any.
func (r Record) Email() string { return stringField(r.Data, "email") }

func stringField(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return s
}

// Limits on record data, so that one record cannot exhaust the store.
const (
	MaxNameLen   = 255
	MaxFieldKeys = 200
)

// ValidateData checks the fields of a record that the host relies on: a
// non-empty string "name" and, when present, a string "email", both short
// enough to index.
func ValidateData(data map[string]any) error {
	if data == nil {
		return Invalid("invalid_data", "data: required, a JSON object of the record's fields")
	}
	if len(data) > MaxFieldKeys {
		return Invalid("invalid_data", "data: at most %d fields, got %d", MaxFieldKeys, len(data))
	}
	for _, key := range []string{"name", "email"} {
		v, present := data[key]
		if !present || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return Invalid("invalid_data", "data.%s: must be a string, got %s", key, JSONKind(v))
		}
		if utf8.RuneCountInString(s) > MaxNameLen {
			return Invalid("invalid_data", "data.%s: at most %d characters, got %d", key, MaxNameLen, utf8.RuneCountInString(s))
		}
	}
	if strings.TrimSpace(stringField(data, "name")) == "" {
		return Invalid("invalid_data", "data.name: required, the record's display name")
	}
	return nil
}

// ValidateParent checks that a record of type t may have a parent of the
// given type (not that the parent exists).
func ValidateParent(t RecordType, parent *Ref) error {
	if parent == nil {
		return nil
	}
	allowed := ParentTypes(t)
	if len(allowed) == 0 {
		return Invalid("invalid_parent", "parent: a %s has no parent", t)
	}
	if !slices.Contains(allowed, parent.Type) {
		return Invalid("invalid_parent", "parent.type: a %s's parent must be %s, got %q", t, joinTypes(allowed), Truncate(string(parent.Type), 40))
	}
	if err := ValidateID("parent.id", parent.ID); err != nil {
		return err
	}
	return nil
}

func joinTypes(ts []RecordType) string {
	if len(ts) == len(RecordTypes) {
		return "a record of any type"
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = "an " + string(t)
	}
	return strings.Join(names, " or ")
}

// JSONKind names the kind of a JSON value for an error message.
func JSONKind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}
