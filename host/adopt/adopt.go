// Package adopt is adoption mode's mapping: where an existing CRM keeps the
// facts crmguard decides on (owners, teams, creators, parents, soft
// deletes) and the data it serves, checked against the CRM's schema, and
// the SQL conditions they stand for. It does no I/O: the store reads the
// schema and the rows, the policy compiler writes filters with it.
package adopt

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/sdk"
)

// Mapping is a checked adoption mapping: every table and column exists and
// has a type crmguard can work with.
type Mapping struct {
	// Install is the slug of the install serving the CRM.
	Install string
	// Database is the CRM's database; "" is crmguard's own.
	Database string
	// HostDatabase is crmguard's database, named in filters the CRM runs
	// on its own connection when the two differ.
	HostDatabase string
	// RecordCache bounds how old the record facts of a decision may be;
	// 0 reads them fresh.
	RecordCache time.Duration
	UserSync    time.Duration
	Users       Users
	Teams       *Teams
	Types       map[sdk.RecordType]*Type
}

// Column is a checked column: its name and how its values read.
type Column struct {
	Name string
	Kind Kind
	// Size is the longest string a text column holds (0: not text or
	// unbounded).
	Size int
	// Nullable says the column may hold NULL.
	Nullable bool
}

// Kind is how crmguard reads and writes a column's values.
type Kind int

// The kinds of column.
const (
	KindText Kind = iota
	KindInt
	KindFloat
	KindTime     // DATETIME, TIMESTAMP
	KindDate     // DATE
	KindUnixTime // seconds in an integer column (created_at, updated_at only)

	// kindUnknown is a column that was not found: reported once, where it
	// was named, and not again by the checks that compare kinds.
	kindUnknown Kind = -1
)

// Match is a condition on a column of a row: one of Values (nil for NULL),
// or, with Contains, a value containing that text.
type Match struct {
	Column   Column
	Values   []any
	Contains string
}

// Users is the CRM's users table.
type Users struct {
	Table   string
	ID      Column
	Email   *Column
	Name    []Column
	Active  *Match
	Deleted *Match
	Admin   *Admin
}

// Admin picks the CRM's administrators: a condition on the users table,
// or rows of an attribute table (Table set) for the user.
type Admin struct {
	Match *Match
	Table string
	User  Column
	Where []Match
}

// Teams is the CRM's teams and their members.
type Teams struct {
	Table   string
	ID      Column
	Name    Column
	Deleted *Match
	Members Members
}

// Members is the join table of team memberships.
type Members struct {
	Table   string
	Team    Column
	User    Column
	Deleted *Match
}

// Type is one record type's table.
type Type struct {
	RecordType sdk.RecordType
	Table      string
	ID         Column
	// Where and Deleted pick the type's live rows.
	Where   []Match
	Deleted *Match
	Owner   Link
	Team    *Link
	Creator *Column
	Parent  *Parent
	// Fields are the data a record shows, in the mapping's order by name.
	Fields    []Field
	Search    []Field
	Name      []Field
	CreatedAt *Column
	UpdatedAt *Column
}

// Field is a record's data field and the column holding it.
type Field struct {
	Name   string
	Column Column
}

// Link is a fact held in a column of the record's table or in a join
// table (Table set) whose Record column names the record.
type Link struct {
	Column     Column
	Unassigned []any
	Table      string
	Record     Column
	Type       []Match
	Deleted    *Match
	// noneText are the non-NULL values of Unassigned as the database
	// returns them, worked out once for reading rows.
	noneText []string
}

// IsNone reports whether a value read from the link's column means none.
func (l Link) IsNone(raw string) bool {
	for _, v := range l.noneText {
		if v == raw {
			return true
		}
	}
	return false
}

// Joined reports whether the fact is held in a join table, so that a
// record may have several values.
func (l Link) Joined() bool { return l.Table != "" }

// Parent is the record a record belongs to.
type Parent struct {
	RecordType sdk.RecordType
	Link
}

// Field returns the type's field of that name.
func (t *Type) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Schema is what the mapping is checked against: the columns of a table of
// the CRM's database, in table order, and whether the table exists.
type Schema interface {
	Columns(table string) ([]SchemaColumn, bool, error)
	Tables() ([]string, error)
}

// SchemaColumn is a column as the database describes it.
type SchemaColumn struct {
	Name string
	// DataType is information_schema's DATA_TYPE (int, varchar, ...).
	DataType string
	// ColumnType is the full type (int(11) unsigned, varchar(17)).
	ColumnType string
	Nullable   bool
	// MaxLength is CHARACTER_MAXIMUM_LENGTH for text columns.
	MaxLength int64
}

// MappingError is every problem of a mapping, each naming its key.
type MappingError struct{ Problems []string }

func (e *MappingError) Error() string {
	return "adoption mapping: " + strings.Join(e.Problems, "\n")
}

// Resolve checks the configured mapping against the CRM's schema and
// returns it with every column's kind, or a MappingError listing every
// problem found.
func Resolve(cfg config.AdoptConfig, hostDatabase string, schema Schema) (*Mapping, error) {
	r := &resolver{schema: schema, tables: map[string][]SchemaColumn{}}
	m := &Mapping{
		Install: cfg.Install, Database: cfg.Database, HostDatabase: hostDatabase,
		RecordCache: cfg.RecordCache, UserSync: cfg.UserSync,
		Types: map[sdk.RecordType]*Type{},
	}
	if cfg.Database == hostDatabase {
		m.Database = ""
	}
	m.Users = r.users(cfg.Users)
	if cfg.Teams != nil {
		m.Teams = r.teams(*cfg.Teams)
	}
	names := make([]string, 0, len(cfg.Types))
	for name := range cfg.Types {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m.Types[sdk.RecordType(name)] = r.recordType("adopt.types."+name, sdk.RecordType(name), cfg.Types[name], m)
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, t := range m.Types {
		if t.Parent != nil {
			parent := m.Types[t.Parent.RecordType]
			r.sameKind("adopt.types."+string(t.RecordType)+".parent.column", t.Parent.Column, parent.ID, parent.Table+"."+parent.ID.Name)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

type resolver struct {
	schema Schema
	tables map[string][]SchemaColumn
	err    *MappingError
}

func (r *resolver) bad(format string, args ...any) {
	if r.err == nil {
		r.err = &MappingError{}
	}
	r.err.Problems = append(r.err.Problems, fmt.Sprintf(format, args...))
}

// named checks, where a table is named (at key), that it exists; the
// columns named later in a missing table are not reported again.
func (r *resolver) named(key, name string) {
	r.table(key, name)
}

// table returns a table's columns, reporting at key when it is missing.
func (r *resolver) table(key, name string) ([]SchemaColumn, bool) {
	if cols, ok := r.tables[name]; ok {
		return cols, cols != nil
	}
	cols, exists, err := r.schema.Columns(name)
	if err != nil {
		r.bad("%s: could not read table %q: %v", key, name, err)
		r.tables[name] = nil
		return nil, false
	}
	if !exists {
		tables, _ := r.schema.Tables()
		r.bad("%s: table %q not found in the CRM's database; tables are: %s", key, name, strings.Join(tables, ", "))
		r.tables[name] = nil
		return nil, false
	}
	r.tables[name] = cols
	return cols, true
}

// column resolves a column of table, reporting at key when it is missing.
func (r *resolver) column(key, table, name string) Column {
	cols, ok := r.table(key, table)
	if !ok {
		return Column{Name: name, Kind: kindUnknown}
	}
	for _, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return Column{Name: c.Name, Kind: kindOf(c.DataType), Size: int(c.MaxLength), Nullable: c.Nullable}
		}
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	r.bad("%s: column %q not found in table %s; columns are: %s", key, name, table, strings.Join(names, ", "))
	return Column{Name: name, Kind: kindUnknown}
}

// idColumn resolves a column holding ids: integers or text.
func (r *resolver) idColumn(key, table, name string) Column {
	c := r.column(key, table, name)
	if c.Kind != KindInt && c.Kind != KindText && c.Kind != kindUnknown {
		r.bad("%s: column %s.%s holds %s values; ids must be integers or text", key, table, name, c.Kind)
	}
	return c
}

func (r *resolver) optionalColumn(key, table, name string) *Column {
	if name == "" {
		return nil
	}
	c := r.column(key, table, name)
	return &c
}

func (r *resolver) match(key, table string, m *config.AdoptMatch) *Match {
	if m == nil {
		return nil
	}
	c := r.column(key+".column", table, m.Column)
	out := &Match{Column: c, Contains: m.Contains}
	for i, v := range m.Values {
		val, err := valueFor(c, v)
		if err != nil {
			r.bad("%s.values[%d]: %v", key, i, err)
		}
		out.Values = append(out.Values, val)
	}
	if m.Contains != "" && c.Kind != KindText && c.Kind != kindUnknown {
		r.bad("%s.contains: column %s.%s is not text", key, table, c.Name)
	}
	return out
}

func (r *resolver) matches(key, table string, ms []config.AdoptMatch) []Match {
	var out []Match
	for i := range ms {
		if m := r.match(fmt.Sprintf("%s[%d]", key, i), table, &ms[i]); m != nil {
			out = append(out, *m)
		}
	}
	return out
}

func (r *resolver) users(u config.AdoptUsers) Users {
	r.named("adopt.users.table", u.Table)
	out := Users{Table: u.Table, ID: r.idColumn("adopt.users.id", u.Table, u.ID)}
	if u.Email != "" {
		c := r.textColumn("adopt.users.email", u.Table, u.Email)
		out.Email = &c
	}
	for i, n := range u.Name {
		out.Name = append(out.Name, r.textColumn(fmt.Sprintf("adopt.users.name[%d]", i), u.Table, n))
	}
	out.Active = r.match("adopt.users.active", u.Table, u.Active)
	out.Deleted = r.match("adopt.users.deleted", u.Table, u.Deleted)
	if a := u.Admin; a != nil {
		if a.Table == "" {
			out.Admin = &Admin{Match: r.match("adopt.users.admin", u.Table, &a.AdoptMatch)}
		} else {
			r.named("adopt.users.admin.table", a.Table)
			user := r.idColumn("adopt.users.admin.user", a.Table, a.User)
			r.sameKind("adopt.users.admin.user", user, out.ID, u.Table+"."+out.ID.Name)
			out.Admin = &Admin{Table: a.Table, User: user, Where: r.matches("adopt.users.admin.where", a.Table, a.Where)}
		}
	}
	return out
}

func (r *resolver) textColumn(key, table, name string) Column {
	c := r.column(key, table, name)
	if c.Kind != KindText && c.Kind != kindUnknown {
		r.bad("%s: column %s.%s is not text", key, table, c.Name)
	}
	return c
}

func (r *resolver) teams(t config.AdoptTeams) *Teams {
	r.named("adopt.teams.table", t.Table)
	r.named("adopt.teams.members.table", t.Members.Table)
	out := &Teams{Table: t.Table, ID: r.idColumn("adopt.teams.id", t.Table, t.ID),
		Name: r.textColumn("adopt.teams.name", t.Table, t.Name), Deleted: r.match("adopt.teams.deleted", t.Table, t.Deleted)}
	mt := t.Members.Table
	out.Members = Members{Table: mt,
		Team:    r.idColumn("adopt.teams.members.team", mt, t.Members.Team),
		User:    r.idColumn("adopt.teams.members.user", mt, t.Members.User),
		Deleted: r.match("adopt.teams.members.deleted", mt, t.Members.Deleted)}
	r.sameKind("adopt.teams.members.team", out.Members.Team, out.ID, t.Table+"."+out.ID.Name)
	return out
}

func (r *resolver) recordType(key string, rt sdk.RecordType, c config.AdoptType, m *Mapping) *Type {
	r.named(key+".table", c.Table)
	t := &Type{RecordType: rt, Table: c.Table, ID: r.idColumn(key+".id", c.Table, c.ID)}
	t.Where = r.matches(key+".where", c.Table, c.Where)
	t.Deleted = r.match(key+".deleted", c.Table, c.Deleted)
	t.Owner = r.link(key+".owner", t, *c.Owner, m.Users.ID, m.Users.Table)
	if c.Team != nil && m.Teams != nil {
		l := r.link(key+".team", t, *c.Team, m.Teams.ID, m.Teams.Table)
		t.Team = &l
	}
	if c.Creator != "" {
		cr := r.idColumn(key+".creator", c.Table, c.Creator)
		r.sameKind(key+".creator", cr, m.Users.ID, m.Users.Table+"."+m.Users.ID.Name)
		t.Creator = &cr
	}
	if p := c.Parent; p != nil {
		// The parent's id kind is checked once every type is resolved.
		l := r.link(key+".parent", t, p.AdoptLink, Column{Kind: kindUnknown}, "")
		t.Parent = &Parent{RecordType: sdk.RecordType(p.RecordType), Link: l}
	}
	names := make([]string, 0, len(c.Fields))
	for name := range c.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Fields = append(t.Fields, Field{Name: name, Column: r.column(key+".fields."+name, c.Table, c.Fields[name])})
	}
	for i, name := range c.Search {
		f, _ := t.Field(name)
		if f.Column.Kind != KindText && f.Column.Kind != kindUnknown {
			r.bad("%s.search[%d]: field %s (column %s) is not text", key, i, name, f.Column.Name)
		}
		t.Search = append(t.Search, f)
	}
	for _, name := range c.Name {
		f, _ := t.Field(name)
		t.Name = append(t.Name, f)
	}
	t.CreatedAt = r.timeColumn(key+".created_at", c.Table, c.CreatedAt)
	t.UpdatedAt = r.timeColumn(key+".updated_at", c.Table, c.UpdatedAt)
	return t
}

func (r *resolver) timeColumn(key, table, name string) *Column {
	c := r.optionalColumn(key, table, name)
	if c == nil || c.Kind == kindUnknown {
		return c
	}
	switch c.Kind {
	case KindTime, KindDate:
	case KindInt:
		c.Kind = KindUnixTime
	default:
		r.bad("%s: column %s.%s must be a DATETIME, a TIMESTAMP or Unix seconds in an integer column", key, table, c.Name)
	}
	return c
}

// link resolves an owner, team or parent: a column of t's table, or a join
// table whose record column holds t's ids.
func (r *resolver) link(key string, t *Type, l config.AdoptLink, target Column, targetName string) Link {
	out := Link{Table: l.Table}
	table := t.Table
	if l.Table != "" {
		table = l.Table
		r.named(key+".table", l.Table)
		out.Record = r.idColumn(key+".record", l.Table, l.Record)
		r.sameKind(key+".record", out.Record, t.ID, t.Table+"."+t.ID.Name)
		out.Type = r.matches(key+".type", l.Table, l.Type)
		out.Deleted = r.match(key+".deleted", l.Table, l.Deleted)
	}
	out.Column = r.idColumn(key+".column", table, l.Column)
	if targetName != "" {
		r.sameKind(key+".column", out.Column, target, targetName+"."+target.Name)
	}
	for i, v := range l.Unassigned {
		val, err := valueFor(out.Column, v)
		if err != nil {
			r.bad("%s.unassigned[%d]: %v", key, i, err)
		}
		out.Unassigned = append(out.Unassigned, val)
		if val != nil {
			out.noneText = append(out.noneText, fmt.Sprint(val))
		}
	}
	if !out.Column.Nullable && len(out.Unassigned) == 0 && !out.Joined() {
		// A NOT NULL column must be given a value that means "nobody",
		// or crmguard could not unassign a record.
		r.bad("%s.unassigned: column %s.%s may not be NULL; say which value means none (like 0 or -1)", key, table, out.Column.Name)
	}
	return out
}

// sameKind reports a column whose ids cannot be compared with the ids it
// refers to: an integer column against text ids would compare by number.
func (r *resolver) sameKind(key string, c, target Column, targetName string) {
	if c.Kind == kindUnknown || target.Kind == kindUnknown || c.Kind == target.Kind {
		return
	}
	r.bad("%s: column %s holds %s values but the ids it refers to (%s) are %s", key, c.Name, c.Kind, targetName, target.Kind)
}

// valueFor converts a configured value to one the column holds.
func valueFor(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindUnixTime:
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int64:
			return n, nil
		case uint64:
			return int64(n), nil
		case float64:
			if n == float64(int64(n)) {
				return int64(n), nil
			}
		case bool:
			if n {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return nil, fmt.Errorf("column %s holds integers, got %v", c.Name, v)
	case KindFloat:
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case float64:
			return n, nil
		}
		return nil, fmt.Errorf("column %s holds numbers, got %v", c.Name, v)
	}
	return fmt.Sprint(v), nil
}

// kindOf maps information_schema's DATA_TYPE to a kind; other types
// (JSON, blobs) are read as text.
func kindOf(dataType string) Kind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bit", "year":
		return KindInt
	case "decimal", "numeric", "float", "double", "real":
		return KindFloat
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return KindText
	case "datetime", "timestamp":
		return KindTime
	case "date":
		return KindDate
	}
	return KindText
}

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindInt:
		return "integer"
	case KindFloat:
		return "number"
	case KindTime:
		return "date-time"
	case KindDate:
		return "date"
	case KindUnixTime:
		return "Unix time"
	}
	return "unknown"
}
