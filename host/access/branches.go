package access

import (
	"fmt"
	"strconv"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// maxBranches bounds ListBranches; a condition with more is kept whole
// where it would split further. A manager's reports make one branch each.
const maxBranches = 64

// maxProduct bounds the pairs of branches split weighs when it distributes
// an AND over two ORs before absorbing what they repeat (a manager's view
// and edit over their reports: fifty branches each, fifty in the end).
const maxProduct = 4096

// ListBranches compiles, for a list of the records of type t the subject
// may take action on, the condition that they may both view the record
// and take the action (a record one may not see is in no list, whatever
// else one may do to it), split into branches whose OR it is, so that a
// list can run one indexed query per branch: an owner's records, a
// team's, the unowned ones... Each branch is one condition; with
// FilterAll or FilterNone there are none.
func ListBranches(p sdk.Policy, s Subject, action sdk.Action, t sdk.RecordType, now time.Time) (FilterKind, []Compiled) {
	return ListBranchesFor(Target{}, p, s, action, t, now)
}

// ListBranchesFor is ListBranches for the records of a target.
func ListBranchesFor(tg Target, p sdk.Policy, s Subject, action sdk.Action, t sdk.RecordType, now time.Time) (FilterKind, []Compiled) {
	if p.Admin {
		return FilterAll, nil
	}
	c := tg.compiler(p, s, now.UnixMilli())
	c.branches = true
	// What the rules allow comes first and their constraints last, so
	// that the constraints narrow branches rather than lead them: a
	// user's own records of their team are read on the owner index.
	actions := []sdk.Action{sdk.ActionView}
	switch action {
	case sdk.ActionView:
	case sdk.ActionDelete: // delete needs edit too
		actions = append(actions, sdk.ActionEdit, action)
	default:
		actions = append(actions, action)
	}
	var anyOf, all []expr
	for _, a := range actions {
		x, constraints := c.ruleParts(t, a, c.root, sdk.MaxParentDepth)
		anyOf, all = append(anyOf, x), append(all, constraints...)
	}
	e := and(append(anyOf, all...)...)
	if k, isConst := e.(constExpr); isConst {
		return compiled(k).Kind, nil
	}
	parts := split(e)
	if len(parts) > maxBranches {
		parts = []expr{e}
	}
	out := make([]Compiled, len(parts))
	for i, part := range parts {
		out[i] = compiled(part)
	}
	return FilterConditional, out
}

// drivingColumn is the indexed column of the first condition of a branch
// that has one: a branch is an AND whose first conditions come from the
// rule's Any, the narrowest.
func drivingColumn(e expr) string {
	switch e := e.(type) {
	case leafExpr:
		return e.index
	case describedExpr:
		return drivingColumn(e.e)
	case andExpr:
		for _, x := range e {
			if c := drivingColumn(x); c != "" {
				return c
			}
		}
	}
	return ""
}

// split returns expressions whose OR is e, distributing AND over OR (and
// over the values of IN lists). Where distributing would make more than
// maxBranches branches, the rest of an AND narrows each branch whole.
func split(e expr) []expr {
	switch e := e.(type) {
	case describedExpr:
		return split(e.e)
	case inExpr:
		out := make([]expr, len(e.values))
		for i, v := range e.values {
			out[i] = indexed(indexedColumn(e.column), e.column+" = ?", v)
		}
		return out
	case orExpr:
		var out []expr
		for _, x := range e {
			out = append(out, split(x)...)
		}
		return out
	case andExpr:
		out := []branch{{}}
		for _, x := range e {
			parts := split(x)
			var next []branch
			if len(out)*len(parts) <= maxProduct {
				next = absorb(product(out, parts))
				if next == nil || len(next) > len(out) {
					next = absorb(splitUnconditioned(out, x, parts))
				}
			}
			if next == nil || len(next) > maxBranches {
				// x, whole, narrows every branch so far.
				whole := newBranch(x)
				for i := range out {
					out[i] = out[i].and(whole)
				}
				continue
			}
			out = next
		}
		exprs := make([]expr, len(out))
		for i, b := range out {
			exprs[i] = b.expr()
		}
		return exprs
	}
	return []expr{e}
}

// splitUnconditioned is out AND x where x multiplies the branches: the
// branches without a condition yet (everyone's, narrowed by a team
// constraint) split over x's parts, each of which reads an index; the
// others, which read their own index already, take x whole as a filter.
func splitUnconditioned(out []branch, x expr, parts []expr) []branch {
	whole := newBranch(x)
	var next, empty []branch
	for _, b := range out {
		if len(b.keys) == 0 {
			empty = append(empty, b)
			continue
		}
		next = append(next, b.and(whole))
	}
	if len(empty) > 0 {
		next = append(next, product(empty, parts)...)
	}
	return next
}

// branch is an AND of conditions, each once, with the keys that tell them
// apart.
type branch struct {
	conds []expr
	keys  []string
}

// newBranch is the branch of one condition, or of an AND's conditions.
func newBranch(e expr) branch {
	var b branch
	if a, ok := e.(andExpr); ok {
		for _, x := range a {
			b = b.with(x, condKey(x))
		}
		return b
	}
	if e == constExpr(true) {
		return b
	}
	return b.with(e, condKey(e))
}

// condKey tells conditions apart by their SQL and arguments: two
// conditions with the same select the same records.
func condKey(e expr) string {
	var b sqlBuilder
	b.write(e)
	for _, a := range b.args {
		switch v := a.(type) {
		case string:
			b.sql.WriteString("\x00s")
			b.sql.WriteString(v)
		case int64:
			b.sql.WriteString("\x00i")
			b.sql.WriteString(strconv.FormatInt(v, 10))
		default:
			fmt.Fprintf(&b.sql, "\x00%T%v", v, v)
		}
	}
	return b.sql.String()
}

func (b branch) has(key string) bool {
	for _, k := range b.keys {
		if k == key {
			return true
		}
	}
	return false
}

// with is b AND x, x once.
func (b branch) with(x expr, key string) branch {
	if b.has(key) {
		return b
	}
	return branch{conds: append(b.conds[:len(b.conds):len(b.conds)], x), keys: append(b.keys[:len(b.keys):len(b.keys)], key)}
}

// and is b AND o.
func (b branch) and(o branch) branch {
	for i, x := range o.conds {
		b = b.with(x, o.keys[i])
	}
	return b
}

func (b branch) expr() expr { return and(b.conds...) }

// product is the AND of each branch of out with each part. A condition
// that is a whole branch on both sides makes, with itself, a branch that
// covers every other pair it is in (X covers X AND Y); those pairs are
// left out rather than made and absorbed.
func product(out []branch, parts []expr) []branch {
	ps := make([]branch, len(parts))
	singleParts := map[string]bool{}
	for i, p := range parts {
		if ps[i] = newBranch(p); len(ps[i].keys) == 1 {
			singleParts[ps[i].keys[0]] = true
		}
	}
	both := map[string]bool{}
	for _, left := range out {
		if len(left.keys) == 1 && singleParts[left.keys[0]] {
			both[left.keys[0]] = true
		}
	}
	wholeOnBoth := func(bs []branch) []bool {
		whole := make([]bool, len(bs))
		for i, b := range bs {
			whole[i] = len(b.keys) == 1 && both[b.keys[0]]
		}
		return whole
	}
	lw, rw := wholeOnBoth(out), wholeOnBoth(ps)
	var next []branch
	for i, left := range out {
		for j, right := range ps {
			switch l, r := lw[i], rw[j]; {
			case l && r && left.keys[0] == right.keys[0]:
				next = append(next, left)
			case l || r:
				// covered by the branch of the condition alone
			default:
				next = append(next, left.and(right))
			}
		}
	}
	return next
}

// absorb drops the branches that others make redundant: of X and X AND
// Y, X alone selects the same records; of two equal branches, one. nil
// when more than maxBranches remain.
func absorb(branches []branch) []branch {
	// Branches of one condition absorb every branch that has it: that is
	// how a view and an edit over the same fifty owners make fifty
	// branches, not fifty times fifty. Only the others are compared in
	// pairs.
	single := map[string]bool{}
	keep := make([]bool, len(branches))
	for i, b := range branches {
		if len(b.keys) == 1 && !single[b.keys[0]] {
			single[b.keys[0]], keep[i] = true, true
		}
	}
	var others []int
	for i, b := range branches {
		if len(b.keys) == 1 {
			continue
		}
		covered := false
		for _, k := range b.keys {
			covered = covered || single[k]
		}
		for _, o := range others {
			covered = covered || (keep[o] && branches[o].covers(b))
		}
		if covered {
			continue
		}
		for _, o := range others {
			keep[o] = keep[o] && !b.covers(branches[o])
		}
		keep[i] = true
		others = append(others, i)
	}
	var out []branch
	for i, b := range branches {
		if keep[i] {
			if out = append(out, b); len(out) > maxBranches {
				return nil
			}
		}
	}
	return out
}

// covers reports whether o selects every record b selects: each of o's
// conditions is one of b's.
func (o branch) covers(b branch) bool {
	if len(o.keys) > len(b.keys) {
		return false
	}
	for _, k := range o.keys {
		if !b.has(k) {
			return false
		}
	}
	return true
}
