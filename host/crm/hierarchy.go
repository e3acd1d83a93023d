package crm

import "slices"

// MaxManagerDepth bounds how many levels of manager links are followed, up
// from a user to their managers or down to their reports. Links should
// never form a cycle (a manager exists before the users who report to
// them), but a walk ends even where they do.
const MaxManagerDepth = 32

// ManagerLinks are the manager links of one install: the manager of each
// user who has one, by user id.
type ManagerLinks map[string]string

// Hierarchy is a user's place among the manager links of their install.
type Hierarchy struct {
	Managers []string // the user's manager, theirs and so on: nearest first
	Reports  []string // everyone who reports to the user, directly or not, by id
}

// Hierarchy returns the managers and reports of a user.
func (l ManagerLinks) Hierarchy(userID string) Hierarchy {
	return Hierarchy{Managers: l.Managers(userID), Reports: l.Reports(userID)}
}

// Managers returns the user's manager, theirs and so on, nearest first.
func (l ManagerLinks) Managers(userID string) []string {
	var out []string
	seen := map[string]bool{userID: true}
	for m := l[userID]; m != "" && !seen[m] && len(out) < MaxManagerDepth; m = l[m] {
		seen[m] = true
		out = append(out, m)
	}
	return out
}

// Reports returns everyone who reports to the user, directly or not, by
// id, in time proportional to the number of links.
func (l ManagerLinks) Reports(userID string) []string {
	below := map[string][]string{}
	for u, m := range l {
		below[m] = append(below[m], u)
	}
	var out []string
	seen := map[string]bool{userID: true}
	level := []string{userID}
	for depth := 0; depth < MaxManagerDepth && len(level) > 0; depth++ {
		var next []string
		for _, m := range level {
			for _, u := range below[m] {
				if !seen[u] {
					seen[u] = true
					next = append(next, u)
				}
			}
		}
		out = append(out, next...)
		level = next
	}
	slices.Sort(out)
	return out
}
