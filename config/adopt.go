package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"
)

// AdoptConfig maps crmguard's record types onto the tables of an existing
// MySQL CRM (adoption mode): crmguard reads and writes the CRM's rows as
// they are and keeps only its own crmguard_* tables beside them. The
// mapping is checked against the database at start (see host/adopt).
type AdoptConfig struct {
	// Install is the slug of the install that serves the CRM; it is
	// created at start when missing. Empty turns adoption mode off.
	Install string `koanf:"install"`
	// Database is the CRM's database on the MySQL server of
	// database.dsn; empty means crmguard's tables live in the CRM's own
	// database. Both are read in the same transactions.
	Database string `koanf:"database"`
	// RecordCache is how long record facts read from the CRM's tables may
	// be reused; 0 (the default) reads them fresh for every decision,
	// since the CRM writes its tables behind crmguard's back.
	RecordCache time.Duration `koanf:"record_cache"`
	// UserSync is how often users, teams and memberships are copied from
	// the CRM's tables into crmguard's.
	UserSync time.Duration `koanf:"user_sync"`
	// Users says where the CRM keeps its users.
	Users AdoptUsers `koanf:"users"`
	// Teams says where the CRM keeps its teams, if it has any.
	Teams *AdoptTeams `koanf:"teams"`
	// Types maps record types (lead, contact, account, opportunity,
	// activity) onto tables.
	Types map[string]AdoptType `koanf:"types"`
}

// AdoptUsers is the CRM's users table.
type AdoptUsers struct {
	Table string `koanf:"table"`
	ID    string `koanf:"id"`
	// Email is the column of the user's e-mail address; without one,
	// crmguard cannot e-mail the user.
	Email string `koanf:"email"`
	// Name lists the columns whose values, joined by a space, are the
	// user's name.
	Name []string `koanf:"name"`
	// Active, when set, is what an active user's row holds; Deleted what
	// a deleted user's row holds. Other users cannot sign in and are
	// allowed nothing.
	Active  *AdoptMatch `koanf:"active"`
	Deleted *AdoptMatch `koanf:"deleted"`
	// Admin says which users are crmguard administrators: a condition on
	// the users table, or on a table of user attributes (Table set).
	Admin *AdoptAdmin `koanf:"admin"`
}

// AdoptAdmin picks the CRM's administrators.
type AdoptAdmin struct {
	AdoptMatch `koanf:",squash"`
	// Table, when set, is a table of user attributes (WordPress's
	// wp_usermeta) whose rows for the user (User column) meet Where.
	Table string       `koanf:"table"`
	User  string       `koanf:"user"`
	Where []AdoptMatch `koanf:"where"`
}

// AdoptTeams is the CRM's teams and memberships.
type AdoptTeams struct {
	Table   string      `koanf:"table"`
	ID      string      `koanf:"id"`
	Name    string      `koanf:"name"`
	Deleted *AdoptMatch `koanf:"deleted"`
	// Members is the join table of memberships.
	Members AdoptMembers `koanf:"members"`
}

// AdoptMembers is a join table of team memberships.
type AdoptMembers struct {
	Table   string      `koanf:"table"`
	Team    string      `koanf:"team"`
	User    string      `koanf:"user"`
	Deleted *AdoptMatch `koanf:"deleted"`
}

// AdoptType maps one record type onto a table.
type AdoptType struct {
	Table string `koanf:"table"`
	// ID is the primary key column: integer or string ids.
	ID string `koanf:"id"`
	// Where picks this type's rows when several types share the table
	// (Jetpack CRM's contacts: leads and customers by status).
	Where []AdoptMatch `koanf:"where"`
	// Deleted is what a soft-deleted row holds; such rows do not exist
	// for crmguard.
	Deleted *AdoptMatch `koanf:"deleted"`
	// Owner is who the record is assigned to; Team the team it belongs
	// to: a column of the table, or a join table.
	Owner *AdoptLink `koanf:"owner"`
	Team  *AdoptLink `koanf:"team"`
	// Creator is the column of the user who created the record.
	Creator string `koanf:"creator"`
	// Parent is the record this one belongs to (a contact's account).
	Parent *AdoptParent `koanf:"parent"`
	// Fields are the columns exposed as the record's data, by field name.
	Fields map[string]string `koanf:"fields"`
	// Search lists the fields a list's q= searches.
	Search []string `koanf:"search"`
	// Name lists the fields whose values, joined by a space, are the
	// record's name.
	Name []string `koanf:"name"`
	// CreatedAt and UpdatedAt are timestamp columns (DATETIME, or Unix
	// seconds in an integer column); crmguard sets UpdatedAt when it
	// writes a row.
	CreatedAt string `koanf:"created_at"`
	UpdatedAt string `koanf:"updated_at"`
}

// AdoptLink is a fact of a record held in a column of its table or, with
// Table set, in a join table: its Record column names the record and its
// Column the value (a user or a team).
type AdoptLink struct {
	Column string `koanf:"column"`
	// Unassigned lists the values that mean "none" (0, -1, "", null).
	Unassigned []any  `koanf:"unassigned"`
	Table      string `koanf:"table"`
	Record     string `koanf:"record"`
	// Type picks the join table's rows for this record type. Several
	// CRMs keep one join table for every entity type; a join without it
	// must say Untyped, so that a forgotten type column cannot mix types.
	Type    []AdoptMatch `koanf:"type"`
	Untyped bool         `koanf:"untyped"`
	Deleted *AdoptMatch  `koanf:"deleted"`
}

// AdoptParent is a record's parent: a column of its table holding the
// parent's id, or a join table.
type AdoptParent struct {
	// RecordType is the parent's record type (account).
	RecordType string `koanf:"record_type"`
	AdoptLink  `koanf:",squash"`
}

// AdoptMatch is a condition on a column: it holds one of Values (null
// matches NULL) or, with Contains, a value containing that text.
type AdoptMatch struct {
	Column   string `koanf:"column"`
	Values   []any  `koanf:"values"`
	Contains string `koanf:"contains"`
}

// Enabled reports whether adoption mode is configured.
func (a AdoptConfig) Enabled() bool { return a.Install != "" || len(a.Types) > 0 }

var identifierPattern = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)

// validate checks the mapping's shape: what can be known without the
// database. Every message starts with the key to fix.
func (a AdoptConfig) validate(c Config) []error {
	if !a.Enabled() {
		return nil
	}
	v := &shapeCheck{}
	if c.Database.Driver != "mysql" {
		v.bad("adopt: adoption mode needs database.driver mysql (the CRM's server), got %q", c.Database.Driver)
	}
	if !slugPattern.MatchString(a.Install) {
		v.bad("adopt.install: must be the slug of the install serving the CRM (2 to 63 lower-case letters, digits or dashes), got %q", a.Install)
	}
	if a.Database != "" {
		v.ident("adopt.database", a.Database)
	}
	if a.RecordCache < 0 || a.RecordCache > MaxRecordCache {
		v.bad("adopt.record_cache: must be from 0 (fresh reads) to %s, got %s", MaxRecordCache, a.RecordCache)
	}
	if a.UserSync < time.Second {
		v.bad("adopt.user_sync: must be at least 1s, got %s", a.UserSync)
	}
	u := a.Users
	v.required("adopt.users.table", u.Table)
	v.required("adopt.users.id", u.ID)
	v.optional("adopt.users.email", u.Email)
	for i, col := range u.Name {
		v.required(fmt.Sprintf("adopt.users.name[%d]", i), col)
	}
	v.match("adopt.users.active", u.Active)
	v.match("adopt.users.deleted", u.Deleted)
	if ad := u.Admin; ad != nil {
		if ad.Table == "" {
			v.match("adopt.users.admin", &ad.AdoptMatch)
		} else {
			v.ident("adopt.users.admin.table", ad.Table)
			v.required("adopt.users.admin.user", ad.User)
			if len(ad.Where) == 0 {
				v.bad("adopt.users.admin.where: must say which rows of %s make a user an administrator", ad.Table)
			}
			for i := range ad.Where {
				v.match(fmt.Sprintf("adopt.users.admin.where[%d]", i), &ad.Where[i])
			}
		}
	}
	if t := a.Teams; t != nil {
		v.required("adopt.teams.table", t.Table)
		v.required("adopt.teams.id", t.ID)
		v.required("adopt.teams.name", t.Name)
		v.match("adopt.teams.deleted", t.Deleted)
		v.required("adopt.teams.members.table", t.Members.Table)
		v.required("adopt.teams.members.team", t.Members.Team)
		v.required("adopt.teams.members.user", t.Members.User)
		v.match("adopt.teams.members.deleted", t.Members.Deleted)
	}
	if len(a.Types) == 0 {
		v.bad("adopt.types: must map at least one record type (lead, contact, account, opportunity, activity) onto a table")
	}
	names := make([]string, 0, len(a.Types))
	for name := range a.Types {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := a.Types[name]
		key := "adopt.types." + name
		if !slices.Contains(recordTypes, name) {
			v.bad("%s: unknown record type %q; the record types are lead, contact, account, opportunity and activity", key, name)
			continue
		}
		v.required(key+".table", t.Table)
		v.required(key+".id", t.ID)
		for i := range t.Where {
			v.match(fmt.Sprintf("%s.where[%d]", key, i), &t.Where[i])
		}
		v.match(key+".deleted", t.Deleted)
		if t.Owner == nil {
			v.bad("%s.owner: must say who a record is assigned to (a column, or a join table)", key)
		} else {
			v.link(key+".owner", *t.Owner)
		}
		if t.Team != nil {
			v.link(key+".team", *t.Team)
			if a.Teams == nil {
				v.bad("%s.team: records have teams but adopt.teams does not say where the CRM keeps them", key)
			}
		}
		v.optional(key+".creator", t.Creator)
		if p := t.Parent; p != nil {
			if !slices.Contains(recordTypes, p.RecordType) {
				v.bad("%s.parent.record_type: must be the parent's record type, got %q", key, p.RecordType)
			} else if _, mapped := a.Types[p.RecordType]; !mapped {
				v.bad("%s.parent.record_type: %s is not mapped in adopt.types", key, p.RecordType)
			}
			v.link(key+".parent", p.AdoptLink)
		}
		if len(t.Fields) == 0 {
			v.bad("%s.fields: must list at least one column exposed as the record's data", key)
		}
		for field, col := range t.Fields {
			if !fieldPattern.MatchString(field) {
				v.bad("%s.fields: field name %q must be 1 to 64 lower-case letters, digits or underscores", key, field)
			}
			v.required(key+".fields."+field, col)
		}
		for i, f := range t.Search {
			if _, ok := t.Fields[f]; !ok {
				v.bad("%s.search[%d]: %q is not one of the type's fields", key, i, f)
			}
		}
		for i, f := range t.Name {
			if _, ok := t.Fields[f]; !ok {
				v.bad("%s.name[%d]: %q is not one of the type's fields", key, i, f)
			}
		}
		v.optional(key+".created_at", t.CreatedAt)
		v.optional(key+".updated_at", t.UpdatedAt)
	}
	return v.errs
}

// MaxRecordCache bounds adopt.record_cache: decisions may rest on record
// facts at most this old.
const MaxRecordCache = time.Minute

var (
	slugPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	fieldPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	recordTypes  = []string{"lead", "contact", "account", "opportunity", "activity"}
)

// shapeCheck collects the problems of a mapping.
type shapeCheck struct{ errs []error }

func (v *shapeCheck) bad(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *shapeCheck) required(key, name string) {
	if name == "" {
		v.bad("%s: required, got nothing", key)
		return
	}
	v.ident(key, name)
}

func (v *shapeCheck) optional(key, name string) {
	if name != "" {
		v.ident(key, name)
	}
}

// ident refuses names that are not plain identifiers: they are written
// into SQL, quoted, so nothing else may get through.
func (v *shapeCheck) ident(key, name string) {
	if !identifierPattern.MatchString(name) {
		v.bad("%s: %q is not a table or column name (letters, digits, _ and $, at most 64)", key, name)
	}
}

func (v *shapeCheck) match(key string, m *AdoptMatch) {
	if m == nil {
		return
	}
	v.required(key+".column", m.Column)
	switch {
	case len(m.Values) == 0 && m.Contains == "":
		v.bad("%s: must give values (or contains) that the column is matched with", key)
	case len(m.Values) > 0 && m.Contains != "":
		v.bad("%s: give values or contains, not both", key)
	}
	v.scalars(key+".values", m.Values)
}

func (v *shapeCheck) scalars(key string, values []any) {
	for i, val := range values {
		switch val.(type) {
		case nil, string, int, int64, uint64, float64, bool:
		default:
			v.bad("%s[%d]: must be a number, a string or null, got %s", key, i, valueWords(val))
		}
	}
}

func (v *shapeCheck) link(key string, l AdoptLink) {
	v.required(key+".column", l.Column)
	v.scalars(key+".unassigned", l.Unassigned)
	if l.Table == "" {
		if l.Record != "" || len(l.Type) > 0 || l.Untyped || l.Deleted != nil {
			v.bad("%s: record, type, untyped and deleted describe a join table; set table too, or remove them", key)
		}
		return
	}
	v.ident(key+".table", l.Table)
	v.required(key+".record", l.Record)
	switch {
	case len(l.Type) == 0 && !l.Untyped:
		v.bad("%s.type: a join table must say which of its rows are for this record type (type: [{column: entity_type, values: [Lead]}]), or untyped: true when it holds this type only", key)
	case len(l.Type) > 0 && l.Untyped:
		v.bad("%s: give type or untyped: true, not both", key)
	}
	for i := range l.Type {
		v.match(fmt.Sprintf("%s.type[%d]", key, i), &l.Type[i])
	}
	v.match(key+".deleted", l.Deleted)
}
