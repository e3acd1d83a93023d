package access

import (
	"fmt"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// FilterKind says whether a compiled filter lets every record through, none,
// or those matching its SQL.
type FilterKind string

// The kinds of compiled filter.
const (
	FilterAll         FilterKind = "all"
	FilterNone        FilterKind = "none"
	FilterConditional FilterKind = "conditional"
)

// Compiled is a policy compiled for one action on one record type: a
// condition on the records table aliased r, over both MySQL and SQLite.
// Every value is an argument; the SQL text holds only identifiers and
// operators.
type Compiled struct {
	Kind FilterKind
	SQL  string // "" unless Kind is conditional
	Args []any
	// Index is the column of the records table whose index should drive a
	// branch of ListBranches (owner_id, team_id or created_by), "" for none:
	// the planner, left alone, often scans in id order instead and finds
	// a selective branch's rows late.
	Index string
	tree  expr
}

// Condition returns the compiled condition as a tree for people and other
// programs: {"op":"and"|"or","args":[...]} over the policy's conditions
// with their values resolved for the subject, or {"op":"true"|"false"}.
func (c Compiled) Condition() any {
	if c.tree == nil {
		return describeTree(constExpr(c.Kind == FilterAll))
	}
	return describeTree(c.tree)
}

// Compile turns the rule for action on records of type t into SQL that
// selects exactly the records Evaluate would allow at time now.
func Compile(p sdk.Policy, s Subject, action sdk.Action, t sdk.RecordType, now time.Time) Compiled {
	return CompileFor(Target{}, p, s, action, t, now)
}

// CompileFor is Compile for the records of a target.
func CompileFor(tg Target, p sdk.Policy, s Subject, action sdk.Action, t sdk.RecordType, now time.Time) Compiled {
	if p.Admin {
		return Compiled{Kind: FilterAll}
	}
	c := tg.compiler(p, s, now.UnixMilli())
	return compiled(c.allowed(t, action, c.root, sdk.MaxParentDepth))
}

// compiled is e as SQL, or the kind of filter a constant is.
func compiled(e expr) Compiled {
	if k, isConst := e.(constExpr); isConst {
		if k {
			return Compiled{Kind: FilterAll}
		}
		return Compiled{Kind: FilterNone}
	}
	var b sqlBuilder
	b.write(e)
	return Compiled{Kind: FilterConditional, SQL: b.sql.String(), Args: b.args, Index: drivingColumn(e), tree: e}
}

type compiler struct {
	p         sdk.Policy
	s         Subject
	nowMillis int64
	schema    schema
	root      string // the alias of the list's own table
	branches  bool   // compiling a list's branches, not one condition
}

// allowed mirrors evaluator.allowed: delete needs edit too.
func (c compiler) allowed(t sdk.RecordType, action sdk.Action, alias string, budget int) expr {
	e := c.rule(t, action, alias, budget)
	if action == sdk.ActionDelete {
		e = and(c.rule(t, sdk.ActionEdit, alias, budget), e)
	}
	return e
}

func (c compiler) rule(t sdk.RecordType, action sdk.Action, alias string, budget int) expr {
	anyOf, all := c.ruleParts(t, action, alias, budget)
	return and(append([]expr{anyOf}, all...)...)
}

// ruleParts is the rule for action as the OR of its Any and its
// constraints (All), apart.
func (c compiler) ruleParts(t sdk.RecordType, action sdk.Action, alias string, budget int) (expr, []expr) {
	r := c.p.Rule(t, action)
	// Allowing more parent levels never allows less, so of several
	// parent_allows only the deepest counts in Any and the shallowest in
	// All: each parent join is compiled once, which keeps the SQL small.
	anyConds := mergeParentAllows(r.Any, func(a, b int) int { return max(a, b) })
	allConds := mergeParentAllows(r.All, func(a, b int) int { return min(a, b) })
	anyOf := make([]expr, len(anyConds))
	for i, cond := range anyConds {
		anyOf[i] = c.cond(cond, t, action, alias, budget)
	}
	var all []expr
	for _, cond := range allConds {
		all = append(all, c.cond(cond, t, action, alias, budget))
	}
	return or(anyOf...), all
}

// mergeParentAllows replaces the parent_allows conditions of conds with one
// whose depth is pick of theirs.
func mergeParentAllows(conds []sdk.Cond, pick func(a, b int) int) []sdk.Cond {
	out := make([]sdk.Cond, 0, len(conds))
	merged := -1
	for _, c := range conds {
		if c.Kind != sdk.CondParentAllows {
			out = append(out, c)
			continue
		}
		if merged < 0 {
			merged = len(out)
			out = append(out, c)
			continue
		}
		out[merged].Depth = pick(out[merged].Depth, c.Depth)
	}
	return out
}

func (c compiler) cond(cond sdk.Cond, t sdk.RecordType, action sdk.Action, alias string, budget int) expr {
	sch := c.schema
	// The description is built only when asked for (Condition), never on
	// the hot path of a list.
	node := func(extra map[string]any) func() any {
		return func() any {
			n := map[string]any{"kind": cond.Kind}
			if cond.Origin != "" {
				n["origin"] = cond.Origin
			}
			for k, v := range extra {
				n[k] = v
			}
			return n
		}
	}
	switch cond.Kind {
	case sdk.CondEveryone:
		return constExpr(true)
	case sdk.CondOwnerSelf:
		return describe(node(map[string]any{"user": c.s.UserID}), sch.ownerIn(c, t, alias, []string{c.s.UserID}))
	case sdk.CondOwnerIn:
		return describe(node(map[string]any{"users": cond.Users}), sch.ownerIn(c, t, alias, cond.Users))
	case sdk.CondUnowned:
		return describe(node(nil), sch.unowned(c, t, alias))
	case sdk.CondCreatorSelf:
		return describe(node(map[string]any{"user": c.s.UserID}), sch.creatorIs(c, t, alias, c.s.UserID))
	case sdk.CondCreatorUnowned:
		// Unowned second: it narrows, the creator's index leads.
		unowned := sch.unowned(c, t, alias)
		if l, ok := unowned.(leafExpr); ok {
			l.index = ""
			unowned = l
		}
		return describe(node(map[string]any{"user": c.s.UserID}), and(sch.creatorIs(c, t, alias, c.s.UserID), unowned))
	case sdk.CondTeamIn:
		teams := sch.teamIn(c, t, alias, cond.Teams)
		if cond.Unteamed {
			teams = or(teams, sch.unteamed(c, t, alias))
		}
		return describe(node(map[string]any{"teams": cond.Teams, "unteamed": cond.Unteamed}), teams)
	case sdk.CondGranted:
		return describe(node(map[string]any{
			"user": c.s.UserID, "teams": c.s.Teams, "action": action, "sources": cond.Sources, "unexpired_at_ms": c.nowMillis,
		}), c.granted(cond, t, action, alias))
	case sdk.CondParentAllows:
		depth := min(cond.Depth, budget)
		if depth <= 0 {
			return constExpr(false)
		}
		e, parents := c.parentAllows(t, action, alias, depth-1)
		return describe(func() any {
			var ps []any
			for _, p := range parents {
				ps = append(ps, map[string]any{"type": p.typ, "condition": describeTree(p.cond)})
			}
			return node(map[string]any{"parents": ps})()
		}, e)
	}
	return constExpr(false)
}

// indexedLeaf is a leaf on a column of the records table aliased alias;
// only the list's own table (r) drives an index, not a parent's.
func (c compiler) indexedLeaf(alias, column, sql string, args ...any) expr {
	if alias != c.root {
		return leaf(sql, args...)
	}
	return indexed(column, sql, args...)
}

// parentBranch is one type a record's parent may have, with the condition
// that parent must meet.
type parentBranch struct {
	typ  sdk.RecordType
	cond expr
}

// granted selects records with an unexpired grant for the subject or one of
// their teams, for the action, from one of the condition's sources.
func (c compiler) granted(cond sdk.Cond, t sdk.RecordType, action sdk.Action, alias string) expr {
	if len(cond.Sources) == 0 {
		return constExpr(false)
	}
	g := "g_" + alias
	subject := leaf(g+".subject_type = ? AND "+g+".subject_id = ?", SubjectUser, c.s.UserID)
	if len(c.s.Teams) > 0 {
		subject = or(subject, and(leaf(g+".subject_type = ?", SubjectTeam), in(g+".subject_id", c.s.Teams)))
	}
	inner := and(
		subject,
		leaf("("+g+".actions & ?) <> 0", crm.ActionBit(action)),
		leaf("("+g+".expires_at IS NULL OR "+g+".expires_at > ?)", c.nowMillis),
		in(g+".source", cond.Sources),
	)
	return c.schema.granted(c, t, alias, g, inner)
}

// parentAllows selects records whose parent is allowed the action; the
// parent's type is one of those the record's type may have. It also
// describes, per parent type, the condition the parent must meet.
func (c compiler) parentAllows(t sdk.RecordType, action sdk.Action, alias string, budget int) (expr, []parentBranch) {
	p := alias + "p"
	var branches []expr
	var parents []parentBranch
	for _, pt := range c.schema.parentTypes(t) {
		parentOK := c.allowed(pt, action, p, budget)
		if parentOK == constExpr(false) {
			continue
		}
		parents = append(parents, parentBranch{typ: pt, cond: parentOK})
		branches = append(branches, c.schema.parentOf(t, pt, alias, p, parentOK))
	}
	return or(branches...), parents
}

// The expression tree folds constants, so that a policy that allows all or
// nothing compiles to no SQL at all.
type expr any

type constExpr bool

type leafExpr struct {
	sql   string
	args  []any
	index string // the indexed column it selects on, if any
}

type andExpr []expr

type orExpr []expr

type existsExpr struct {
	from  string
	where expr
}

// inSelectExpr is column IN (SELECT sel FROM from WHERE where).
type inSelectExpr struct {
	column, sel, from string
	where             expr
}

func inSelect(column, sel, from string, where expr) expr {
	if where == constExpr(false) {
		return constExpr(false)
	}
	return inSelectExpr{column: column, sel: sel, from: from, where: where}
}

// describedExpr is a policy condition: its SQL, and how it reads.
type describedExpr struct {
	node func() any
	e    expr
}

// describe attaches a description to a condition's SQL; constants stay
// constants so that folding still works.
func describe(node func() any, e expr) expr {
	if _, isConst := e.(constExpr); isConst {
		return e
	}
	return describedExpr{node: node, e: e}
}

// describeTree renders an expression as the condition tree of Condition.
func describeTree(e expr) any {
	switch e := e.(type) {
	case constExpr:
		if e {
			return map[string]any{"op": "true"}
		}
		return map[string]any{"op": "false"}
	case describedExpr:
		return e.node()
	case andExpr:
		return map[string]any{"op": "and", "args": describeAll(e)}
	case orExpr:
		return map[string]any{"op": "or", "args": describeAll(e)}
	}
	return map[string]any{"op": "sql"} // plumbing below a condition; not reached from Compile
}

func describeAll(xs []expr) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = describeTree(x)
	}
	return out
}

func leaf(sql string, args ...any) expr { return leafExpr{sql: sql, args: args} }

// indexed is a leaf that selects on an indexed column of the records
// table.
func indexed(column, sql string, args ...any) expr {
	return leafExpr{sql: sql, args: args, index: column}
}

func in(column string, values []string) expr {
	switch len(values) {
	case 0:
		return constExpr(false)
	case 1:
		return indexed(indexedColumn(column), column+" = ?", values[0])
	}
	return inExpr{column: column, values: values}
}

// indexedColumn is the records table's column of a qualified column
// ("r.owner_id"), "" for another table's.
func indexedColumn(column string) string {
	if name, ok := strings.CutPrefix(column, "r."); ok {
		return name
	}
	return ""
}

// inExpr is column IN (values): one condition in a filter, one branch per
// value in a list's branches, so that each branch reads one index range in
// id order (MariaDB reads an IN list on an index's middle column as one
// scan of the whole prefix, then sorts).
type inExpr struct {
	column string
	values []string
}

func exists(from string, where expr) expr {
	if where == constExpr(false) {
		return constExpr(false)
	}
	return existsExpr{from: from, where: where}
}

func and(xs ...expr) expr {
	var out andExpr
	for _, x := range xs {
		switch x := x.(type) {
		case constExpr:
			if !x {
				return constExpr(false)
			}
		case andExpr:
			out = append(out, x...)
		default:
			out = append(out, x)
		}
	}
	switch len(out) {
	case 0:
		return constExpr(true)
	case 1:
		return out[0]
	}
	return out
}

func or(xs ...expr) expr {
	var out orExpr
	for _, x := range xs {
		switch x := x.(type) {
		case constExpr:
			if x {
				return constExpr(true)
			}
		case orExpr:
			out = append(out, x...)
		default:
			out = append(out, x)
		}
	}
	switch len(out) {
	case 0:
		return constExpr(false)
	case 1:
		return out[0]
	}
	return out
}

type sqlBuilder struct {
	sql  strings.Builder
	args []any
}

func (b *sqlBuilder) write(e expr) {
	switch e := e.(type) {
	case constExpr:
		if e {
			b.sql.WriteString("1 = 1")
		} else {
			b.sql.WriteString("1 = 0")
		}
	case leafExpr:
		b.sql.WriteString(e.sql)
		b.args = append(b.args, e.args...)
	case andExpr:
		b.join(" AND ", e)
	case orExpr:
		b.join(" OR ", e)
	case existsExpr:
		b.sql.WriteString("EXISTS (SELECT 1 FROM " + e.from + " WHERE ")
		b.write(e.where)
		b.sql.WriteString(")")
	case inSelectExpr:
		b.sql.WriteString(e.column + " IN (SELECT " + e.sel + " FROM " + e.from + " WHERE ")
		b.write(e.where)
		b.sql.WriteString(")")
	case describedExpr:
		b.write(e.e)
	case inExpr:
		b.sql.WriteString(e.column + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(e.values)), ", ") + ")")
		for _, v := range e.values {
			b.args = append(b.args, v)
		}
	default:
		panic(fmt.Sprintf("access: unknown expression %T", e))
	}
}

func (b *sqlBuilder) join(sep string, xs []expr) {
	b.sql.WriteString("(")
	for i, x := range xs {
		if i > 0 {
			b.sql.WriteString(sep)
		}
		b.write(x)
	}
	b.sql.WriteString(")")
}
