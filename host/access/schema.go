package access

import (
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// schema says where a record's facts are in SQL: crmguard's records table
// (native), or an adopted CRM's tables. Each condition is on the record
// of type t aliased alias.
type schema interface {
	ownerIn(c compiler, t sdk.RecordType, alias string, users []string) expr
	unowned(c compiler, t sdk.RecordType, alias string) expr
	creatorIs(c compiler, t sdk.RecordType, alias, user string) expr
	teamIn(c compiler, t sdk.RecordType, alias string, teams []string) expr
	unteamed(c compiler, t sdk.RecordType, alias string) expr
	// granted is the condition that the record has a grant, aliased g,
	// that meets cond.
	granted(c compiler, t sdk.RecordType, alias, g string, cond expr) expr
	// parentTypes are the types a record of type t may have as parent.
	parentTypes(t sdk.RecordType) []sdk.RecordType
	// parentOf is the condition that the record has a parent of type pt,
	// aliased p, that meets parentOK.
	parentOf(t, pt sdk.RecordType, alias, p string, parentOK expr) expr
}

// native is crmguard's own records table.
type native struct{}

func col(alias, name string) string { return alias + "." + name }

func (native) ownerIn(c compiler, _ sdk.RecordType, alias string, users []string) expr {
	if len(users) == 1 {
		return c.indexedLeaf(alias, "owner_id", col(alias, "owner_id")+" = ?", users[0])
	}
	return in(col(alias, "owner_id"), users)
}

func (native) unowned(c compiler, _ sdk.RecordType, alias string) expr {
	return c.indexedLeaf(alias, "owner_id", col(alias, "owner_id")+" IS NULL")
}

func (native) creatorIs(c compiler, _ sdk.RecordType, alias, user string) expr {
	return c.indexedLeaf(alias, "created_by", col(alias, "created_by")+" = ?", user)
}

func (native) teamIn(_ compiler, _ sdk.RecordType, alias string, teams []string) expr {
	return in(col(alias, "team_id"), teams)
}

func (native) unteamed(c compiler, _ sdk.RecordType, alias string) expr {
	return c.indexedLeaf(alias, "team_id", col(alias, "team_id")+" IS NULL")
}

func (native) granted(_ compiler, _ sdk.RecordType, alias, g string, cond expr) expr {
	return exists("crmguard_grants "+g, and(
		leaf(g+".install_id = "+alias+".install_id AND "+g+".record_type = "+alias+".type AND "+g+".record_id = "+alias+".id"), cond))
}

func (native) parentTypes(t sdk.RecordType) []sdk.RecordType { return crm.ParentTypes(t) }

func (native) parentOf(_, pt sdk.RecordType, alias, p string, parentOK expr) expr {
	return and(
		leaf(alias+".parent_type = ?", string(pt)),
		exists("crmguard_records "+p, and(
			leaf(p+".install_id = "+alias+".install_id AND "+p+".type = ? AND "+p+".id = "+alias+".parent_id", string(pt)),
			parentOK,
		)),
	)
}

// adopted is a CRM's tables as an adoption mapping describes them, for
// the install that serves them.
type adopted struct {
	m         *adopt.Mapping
	installID string
}

func cond(c adopt.Cond) expr {
	switch c.SQL {
	case "1 = 0":
		return constExpr(false)
	case "1 = 1":
		return constExpr(true)
	}
	return leaf(c.SQL, c.Args...)
}

func (a adopted) ownerIn(_ compiler, t sdk.RecordType, alias string, users []string) expr {
	return a.linkIn(t, alias, a.m.Types[t].Owner, users)
}

// linkIn is a link's IN: over a column of the record's table it may split
// into one branch per value; over a join table it is one EXISTS.
func (a adopted) linkIn(t sdk.RecordType, alias string, l adopt.Link, values []string) expr {
	if len(values) == 0 {
		return constExpr(false)
	}
	if !l.Joined() {
		return in(adopt.Col(alias, l.Column), values)
	}
	return cond(a.m.LinkIn(a.m.Types[t], l, alias, values))
}

func (a adopted) unowned(_ compiler, t sdk.RecordType, alias string) expr {
	mt := a.m.Types[t]
	return cond(a.m.LinkNone(mt, mt.Owner, alias))
}

func (a adopted) creatorIs(_ compiler, t sdk.RecordType, alias, user string) expr {
	mt := a.m.Types[t]
	if mt.Creator == nil {
		return constExpr(false)
	}
	return leaf(adopt.Col(alias, *mt.Creator)+" = ?", user)
}

func (a adopted) teamIn(_ compiler, t sdk.RecordType, alias string, teams []string) expr {
	mt := a.m.Types[t]
	if mt.Team == nil {
		return constExpr(false)
	}
	return a.linkIn(t, alias, *mt.Team, teams)
}

func (a adopted) unteamed(_ compiler, t sdk.RecordType, alias string) expr {
	mt := a.m.Types[t]
	if mt.Team == nil {
		return constExpr(true)
	}
	return cond(a.m.LinkNone(mt, *mt.Team, alias))
}

// granted differs for lists and for filters. A branch of a list reads
// the grants first and the CRM's rows by their key (the id IN a subquery,
// which the database joins); a filter, an OR within the CRM's own query,
// looks each row's id up in the grants it reads once. crmguard's ids are
// ASCII with a binary collation, the CRM's usually not: the row's id is
// converted for the lookup to use the grants' index.
func (a adopted) granted(c compiler, t sdk.RecordType, alias, g string, cond expr) expr {
	mt := a.m.Types[t]
	from := a.m.HostTable("crmguard_grants") + " " + g
	ofType := leaf(g+".install_id = ? AND "+g+".record_type = ?", a.installID, string(t))
	id := adopt.Col(alias, mt.ID)
	if c.branches && alias == c.root {
		return inSelect(id, g+".record_id", from, and(ofType, cond))
	}
	return exists(from, and(ofType, leaf(g+".record_id = CAST("+id+" AS CHAR CHARACTER SET ascii) COLLATE ascii_bin"), cond))
}

func (a adopted) parentTypes(t sdk.RecordType) []sdk.RecordType {
	if mt := a.m.Types[t]; mt != nil && mt.Parent != nil {
		return []sdk.RecordType{mt.Parent.RecordType}
	}
	return nil
}

func (a adopted) parentOf(t, pt sdk.RecordType, alias, p string, parentOK expr) expr {
	mt, parent := a.m.Types[t], a.m.Types[pt]
	live := cond(parent.Live(p))
	if !mt.Parent.Joined() {
		return exists(a.m.Table(parent.Table)+" "+adopt.Quote(p), and(
			leaf(adopt.Col(p, parent.ID)+" = "+adopt.Col(alias, mt.Parent.Column)), live, parentOK))
	}
	// A join table's rows for the record name its parent in Column.
	j := alias + "_parent"
	rows := cond(a.m.JoinRows(mt, mt.Parent.Link, alias, j))
	return exists(a.m.Table(mt.Parent.Table)+" "+adopt.Quote(j), and(rows,
		exists(a.m.Table(parent.Table)+" "+adopt.Quote(p), and(
			leaf(adopt.Col(p, parent.ID)+" = "+adopt.Col(j, mt.Parent.Column)), live, parentOK))))
}

// Target is where the records a policy is compiled for live: crmguard's
// records table (the zero Target), or an adopted CRM's tables, whose
// record the SQL names by Alias.
type Target struct {
	schema schema
	alias  string
}

// Adopted is the target of an adopted CRM's tables, served by the install
// installID; alias is how the query names the record's table.
func Adopted(m *adopt.Mapping, installID, alias string) Target {
	return Target{schema: adopted{m: m, installID: installID}, alias: alias}
}

func (tg Target) compiler(p sdk.Policy, s Subject, now int64) compiler {
	c := compiler{p: p, s: s, nowMillis: now, schema: tg.schema, root: tg.alias}
	if c.schema == nil {
		c.schema, c.root = native{}, "r"
	}
	return c
}
