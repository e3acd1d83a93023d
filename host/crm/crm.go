// Package crm holds the domain of the team CRM that crmguard serves: installs,
// users, roles, teams, records, grants, tokens and audit events, with the
// validation rules that every caller shares. It does no I/O.
package crm

import (
	"encoding/json"
	"slices"
	"time"
)

// Install is one CRM installation (a tenant). Everything else belongs to
// exactly one install and nothing ever crosses installs.
type Install struct {
	ID        string
	Slug      string
	Name      string
	Settings  Settings
	CreatedAt time.Time
}

// AssignBy says who may assign ("Assign To") a record to a user.
type AssignBy string

// The values of AssignBy.
const (
	// AssignByAdmins lets only administrators assign records.
	AssignByAdmins AssignBy = "admins"
	// AssignByOwners lets whoever may edit a record assign it: its assignee,
	// an administrator, or anyone while it is unassigned.
	AssignByOwners AssignBy = "owners"
	// AssignByEveryone lets every user assign every record.
	AssignByEveryone AssignBy = "everyone"
)

// Settings are an install's own switches for the base behaviour.
type Settings struct {
	// AssignmentEnabled turns "Assign To" on; when off, owners do not
	// restrict edits and nobody can change them.
	AssignmentEnabled bool `json:"assignment_enabled"`
	// AssignBy says who may assign records.
	AssignBy AssignBy `json:"assign_by"`
	// Timezone is the install's time zone, an IANA name ("Europe/Berlin"):
	// where the days people type ("2026-12-20") begin and end. Plugins
	// are told it with the install.
	Timezone string `json:"timezone"`
}

// DefaultTimezone is the time zone of an install that has not chosen one,
// new or created before the setting existed.
const DefaultTimezone = "UTC"

// DefaultSettings are the settings of a new install: Jetpack CRM's defaults.
func DefaultSettings() Settings {
	return Settings{AssignmentEnabled: true, AssignBy: AssignByOwners, Timezone: DefaultTimezone}
}

// Validate reports the first setting that is out of range.
func (s Settings) Validate() error {
	switch s.AssignBy {
	case AssignByAdmins, AssignByOwners, AssignByEveryone:
	default:
		return Invalid("invalid_settings", `assign_by: must be "admins", "owners" or "everyone", got %q`, s.AssignBy)
	}
	return ValidateTimezone(s.Timezone)
}

// ValidateTimezone checks that name is a time zone of the IANA database.
// Two names that time.LoadLocation takes are refused: "" (which it reads
// as UTC; an install says "UTC") and "Local" (the machine's zone, which
// differs between the replicas and the plugins' machines). The binaries
// embed the database (time/tzdata), so the answer does not depend on the
// machine's zoneinfo files, only on which of them is newer.
func ValidateTimezone(name string) error {
	if name != "" && name != "Local" && len(name) <= 64 {
		if _, err := time.LoadLocation(name); err == nil {
			return nil
		}
	}
	return Invalid("invalid_settings", `timezone: must be the name of a time zone of the IANA database, such as "Europe/Berlin", `+
		`"America/New_York" or "UTC", got %q`, Truncate(name, 70))
}

// Capability is something a role allows beyond what every user may do.
type Capability string

// The capabilities a role can carry.
const (
	// CapAdmin allows everything within the install, never beyond it.
	CapAdmin Capability = "admin"
	// CapReassign allows bulk reassignment of records from one user to another.
	CapReassign Capability = "reassign"
)

// Capabilities lists every capability, in the order they are documented.
var Capabilities = []Capability{CapAdmin, CapReassign}

// The built-in roles every install has.
const (
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleMember  = "member"
)

// Role is a named set of capabilities of an install. Plugins give roles more
// meaning through their settings.
type Role struct {
	Name         string
	Description  string
	Capabilities []Capability
	// Add are the record types the role's users may add (create). Nil
	// means every type, as for every role before there was a choice; an
	// empty list means none.
	Add     []RecordType
	BuiltIn bool
}

// Has reports whether the role carries capability c (admins carry them all).
func (r Role) Has(c Capability) bool {
	return slices.Contains(r.Capabilities, CapAdmin) || slices.Contains(r.Capabilities, c)
}

// MayAdd reports whether the role's users may add records of type t
// (admins may add every type).
func (r Role) MayAdd(t RecordType) bool {
	return r.Add == nil || r.Has(CapAdmin) || slices.Contains(r.Add, t)
}

// NormalizeAdd checks the record types a role may add: nil (every type)
// stays nil, anything else becomes a list without repeats in the order of
// RecordTypes, and an unknown type is refused with its name.
func NormalizeAdd(types []RecordType) ([]RecordType, error) {
	if types == nil {
		return nil, nil
	}
	for _, t := range types {
		if !slices.Contains(RecordTypes, t) {
			return nil, Invalid("invalid_add", "add: unknown record type %q; the record types are lead, contact, account, opportunity and activity", Truncate(string(t), 40))
		}
	}
	out := []RecordType{}
	for _, t := range RecordTypes {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// BuiltInRoles returns the roles created with every install.
func BuiltInRoles() []Role {
	return []Role{
		{Name: RoleAdmin, Description: "Administrator: everything within the install", Capabilities: []Capability{CapAdmin}, BuiltIn: true},
		{Name: RoleManager, Description: "Manager: may reassign records in bulk", Capabilities: []Capability{CapReassign}, BuiltIn: true},
		{Name: RoleMember, Description: "Member", Capabilities: []Capability{}, BuiltIn: true},
	}
}

// User is a person of an install.
type User struct {
	ID        string
	InstallID string
	Email     string
	Name      string
	Role      string
	ManagerID string // empty: no manager
	CreatedAt time.Time
	// Disabled users keep their records and their place in the manager
	// links, but their tokens stop working and nothing new is given to
	// them (records, a manager role over others) until they are enabled.
	Disabled bool
}

// Team is a group of users of an install. What a team means for access comes
// from plugins; the host only keeps the data.
type Team struct {
	ID        string
	InstallID string
	Name      string
	CreatedAt time.Time
}

// Membership places a user in a team; Primary marks the team a user's new
// records go to when a plugin needs one.
type Membership struct {
	TeamID  string
	UserID  string
	Primary bool
}

// Token is an API token's metadata; the secret itself is shown once and only
// its SHA-256 is stored.
type Token struct {
	ID        string
	InstallID string
	UserID    string
	Label     string
	CreatedAt time.Time
}

// Principal is the authenticated caller of a request: a user of an
// install, or (Service) an application holding a service token of the
// install, which has no user and may only use the decision API.
type Principal struct {
	Install Install
	User    User
	Role    Role
	Service bool
	// TokenHash is the hex SHA-256 of the token the principal came from
	// ("" for the command line): the host re-checks it against its caches
	// on every request, so that a revoked token stops working at once.
	TokenHash string
}

// IsAdmin reports whether the caller administers their install.
func (p Principal) IsAdmin() bool { return p.Role.Has(CapAdmin) }

// PluginActivation is an install's use of a plugin: whether it is active
// and its settings (kept while it is not).
type PluginActivation struct {
	InstallID string
	PluginID  string
	Active    bool
	Settings  json.RawMessage
	UpdatedAt time.Time
}

// AuditEvent is one entry of the append-only audit log.
type AuditEvent struct {
	ID         string
	InstallID  string
	At         time.Time
	ActorID    string // empty for the system
	Action     string // e.g. "record.assign"
	RecordType RecordType
	RecordID   string
	Detail     map[string]any
}

// The audit actions the host writes.
const (
	AuditRecordCreate = "record.create"
	AuditRecordUpdate = "record.update"
	AuditRecordDelete = "record.delete"
	AuditRecordAssign = "record.assign"
	AuditRecordDetach = "record.detach"

	AuditPluginActivate   = "plugin.activate"
	AuditPluginDeactivate = "plugin.deactivate"
	AuditPluginSettings   = "plugin.settings"

	AuditGrantCreate = "grant.create"
	AuditGrantUpdate = "grant.update"
	AuditGrantRevoke = "grant.revoke"

	AuditUserUpdate = "user.update"
)

// Grant is a stored permission on one record for a user or a team. Plugins
// create grants (delegations, shares); the host stores and enforces them.
type Grant struct {
	ID          string
	InstallID   string
	RecordType  RecordType
	RecordID    string
	SubjectType string // "user" or "team"
	SubjectID   string
	Actions     []Action
	Source      string // the plugin that owns the grant
	ExpiresAt   *time.Time
	CreatedBy   string
	CreatedAt   time.Time
}
