package adopt

import (
	"strings"
)

// Cond is a SQL condition with its arguments. Values are always
// arguments; the text holds only quoted identifiers and operators.
type Cond struct {
	SQL  string
	Args []any
}

// Quote quotes a MySQL identifier.
func Quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// Col is a column of the table aliased alias.
func Col(alias string, c Column) string { return Quote(alias) + "." + Quote(c.Name) }

// Table is a CRM table as a query names it: qualified by the CRM's
// database when crmguard's tables live in another.
func (m *Mapping) Table(name string) string {
	if m.Database == "" {
		return Quote(name)
	}
	return Quote(m.Database) + "." + Quote(name)
}

// HostTable is one of crmguard's tables as a filter the CRM runs on its
// own connection names it.
func (m *Mapping) HostTable(name string) string {
	if m.Database == "" || m.HostDatabase == "" {
		return Quote(name)
	}
	return Quote(m.HostDatabase) + "." + Quote(name)
}

// SQL is the match as a condition on the table aliased alias.
func (m Match) SQL(alias string) Cond {
	col := Col(alias, m.Column)
	if m.Contains != "" {
		return Cond{SQL: col + " LIKE ? ESCAPE '!'", Args: []any{"%" + escapeLike(m.Contains) + "%"}}
	}
	return in(col, m.Values)
}

// in is col IN (values), where a nil value matches NULL.
func in(col string, values []any) Cond {
	var parts []string
	var args []any
	var nonNull []any
	for _, v := range values {
		if v == nil {
			parts = append(parts, col+" IS NULL")
			continue
		}
		nonNull = append(nonNull, v)
	}
	switch len(nonNull) {
	case 0:
	case 1:
		parts = append([]string{col + " = ?"}, parts...)
	default:
		parts = append([]string{col + " IN (" + placeholders(len(nonNull)) + ")"}, parts...)
	}
	args = append(args, nonNull...)
	switch len(parts) {
	case 0:
		return Cond{SQL: "1 = 0"}
	case 1:
		return Cond{SQL: parts[0], Args: args}
	}
	return Cond{SQL: "(" + strings.Join(parts, " OR ") + ")", Args: args}
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// And joins conditions; no condition is "1 = 1".
func And(cs ...Cond) Cond {
	var parts []string
	var args []any
	for _, c := range cs {
		if c.SQL == "" {
			continue
		}
		parts = append(parts, c.SQL)
		args = append(args, c.Args...)
	}
	switch len(parts) {
	case 0:
		return Cond{SQL: "1 = 1"}
	case 1:
		return Cond{SQL: parts[0], Args: args}
	}
	return Cond{SQL: "(" + strings.Join(parts, " AND ") + ")", Args: args}
}

// Not negates a match: the row holds none of the values. NULL is neither
// a value nor not one in SQL, so it is said explicitly.
func Not(m Match, alias string) Cond {
	c := m.SQL(alias)
	if m.Column.Nullable && !containsNil(m.Values) {
		return Cond{SQL: "(" + Col(alias, m.Column) + " IS NULL OR NOT " + c.SQL + ")", Args: c.Args}
	}
	return Cond{SQL: "NOT " + c.SQL, Args: c.Args}
}

func containsNil(values []any) bool {
	for _, v := range values {
		if v == nil {
			return true
		}
	}
	return false
}

// Live is the condition that a row of t's table (aliased alias) is a live
// record of the type: it meets Where and is not soft-deleted.
func (t *Type) Live(alias string) Cond {
	var cs []Cond
	for _, w := range t.Where {
		cs = append(cs, w.SQL(alias))
	}
	if t.Deleted != nil {
		cs = append(cs, Not(*t.Deleted, alias))
	}
	return And(cs...)
}

// JoinRows is the condition that a row of a link's join table (aliased
// j) is one of the link's rows for the record aliased alias.
func (m *Mapping) JoinRows(t *Type, l Link, alias, j string) Cond {
	cs := []Cond{{SQL: Col(j, l.Record) + " = " + Col(alias, t.ID)}}
	for _, ty := range l.Type {
		cs = append(cs, ty.SQL(j))
	}
	if l.Deleted != nil {
		cs = append(cs, Not(*l.Deleted, j))
	}
	return And(cs...)
}

// LinkIn is the condition that the record aliased alias has one of values
// as the link's fact (an owner, a team).
func (m *Mapping) LinkIn(t *Type, l Link, alias string, values []string) Cond {
	if len(values) == 0 {
		return Cond{SQL: "1 = 0"}
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	if !l.Joined() {
		return in(Col(alias, l.Column), args)
	}
	j := alias + "_" + l.Column.Name
	c := m.JoinRows(t, l, alias, j)
	v := in(Col(j, l.Column), args)
	return Cond{SQL: "EXISTS (SELECT 1 FROM " + m.Table(l.Table) + " " + Quote(j) + " WHERE " + c.SQL + " AND " + v.SQL + ")",
		Args: append(c.Args, v.Args...)}
}

// LinkNone is the condition that the record aliased alias has no value of
// the link (unassigned, no team).
func (m *Mapping) LinkNone(t *Type, l Link, alias string) Cond {
	if !l.Joined() {
		none := append([]any(nil), l.Unassigned...)
		if !containsNil(none) {
			none = append(none, nil)
		}
		return in(Col(alias, l.Column), none)
	}
	j := alias + "_" + l.Column.Name
	c := m.JoinRows(t, l, alias, j)
	return Cond{SQL: "NOT EXISTS (SELECT 1 FROM " + m.Table(l.Table) + " " + Quote(j) + " WHERE " + c.SQL + ")", Args: c.Args}
}

// Unassigned is the value written to a link's column to mean "none".
func (l Link) UnassignedValue() any {
	if len(l.Unassigned) > 0 {
		return l.Unassigned[0]
	}
	return nil
}

// Live is the condition that a row of the users table (aliased alias) is
// a user who may sign in: active and not deleted.
func (u Users) Live(alias string) Cond {
	var cs []Cond
	if u.Active != nil {
		cs = append(cs, u.Active.SQL(alias))
	}
	if u.Deleted != nil {
		cs = append(cs, Not(*u.Deleted, alias))
	}
	return And(cs...)
}

// IsAdmin is the condition that the user aliased alias is an
// administrator; false when the mapping names none.
func (m *Mapping) IsAdmin(alias string) Cond {
	a := m.Users.Admin
	switch {
	case a == nil:
		return Cond{SQL: "1 = 0"}
	case a.Match != nil:
		return a.Match.SQL(alias)
	}
	j := alias + "_admin"
	cs := []Cond{{SQL: Col(j, a.User) + " = " + Col(alias, m.Users.ID)}}
	for _, w := range a.Where {
		cs = append(cs, w.SQL(j))
	}
	c := And(cs...)
	return Cond{SQL: "EXISTS (SELECT 1 FROM " + m.Table(a.Table) + " " + Quote(j) + " WHERE " + c.SQL + ")", Args: c.Args}
}

// Live is the condition that a row of the teams table is a team.
func (t *Teams) Live(alias string) Cond {
	if t.Deleted == nil {
		return And()
	}
	return Not(*t.Deleted, alias)
}

// LiveMember is the condition that a row of the members table is a
// membership.
func (t *Teams) LiveMember(alias string) Cond {
	if t.Members.Deleted == nil {
		return And()
	}
	return Not(*t.Members.Deleted, alias)
}

// RowsOf is the condition that a row of a link's join table (aliased j)
// links the record whose id is id, whatever its soft-delete flag: the
// rows crmguard replaces when it changes the link.
func (l Link) RowsOf(j string, id any) Cond {
	cs := []Cond{{SQL: Col(j, l.Record) + " = ?", Args: []any{id}}}
	for _, ty := range l.Type {
		cs = append(cs, ty.SQL(j))
	}
	return And(cs...)
}
