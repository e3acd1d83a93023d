package crm_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
)

func TestHierarchy(t *testing.T) {
	// ceo ← vp ← {lead2, lead1}; lead1 ← dev; ops has no manager.
	org := crm.ManagerLinks{"vp": "ceo", "lead2": "vp", "lead1": "vp", "dev": "lead1"}
	for _, tc := range []struct {
		name         string
		links        crm.ManagerLinks
		user         string
		wantManagers []string
		wantReports  []string
	}{
		{"Top", org, "ceo", nil, []string{"dev", "lead1", "lead2", "vp"}},
		{"Middle", org, "lead1", []string{"vp", "ceo"}, []string{"dev"}},
		{"Bottom", org, "dev", []string{"lead1", "vp", "ceo"}, nil},
		{"Alone", org, "ops", nil, nil},
		{"NoLinks", nil, "ceo", nil, nil},
		{"SelfManaged", crm.ManagerLinks{"a": "a", "b": "a"}, "a", nil, []string{"b"}},
		{"CycleUp", crm.ManagerLinks{"a": "b", "b": "c", "c": "a"}, "a", []string{"b", "c"}, []string{"b", "c"}},
		{"BelowACycle", crm.ManagerLinks{"a": "b", "b": "a", "c": "a"}, "c", []string{"a", "b"}, nil},
		{"InACycleWithATail", crm.ManagerLinks{"a": "b", "b": "a", "c": "a"}, "a", []string{"b"}, []string{"b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.links.Hierarchy(tc.user)
			if !slices.Equal(got.Managers, tc.wantManagers) || !slices.Equal(got.Reports, tc.wantReports) {
				t.Fatalf("got managers %v, reports %v; want %v, %v", got.Managers, got.Reports, tc.wantManagers, tc.wantReports)
			}
		})
	}
	t.Run("DepthIsCapped", func(t *testing.T) {
		// u0 ← u1 ← ... ← u99: a chain longer than any walk goes.
		chain := crm.ManagerLinks{}
		for i := 1; i < 100; i++ {
			chain[fmt.Sprintf("u%02d", i)] = fmt.Sprintf("u%02d", i-1)
		}
		up := chain.Hierarchy("u99").Managers
		if len(up) != crm.MaxManagerDepth || up[0] != "u98" || up[len(up)-1] != fmt.Sprintf("u%02d", 99-crm.MaxManagerDepth) {
			t.Fatalf("managers of u99: %v", up)
		}
		down := chain.Hierarchy("u00").Reports
		if len(down) != crm.MaxManagerDepth || down[0] != "u01" || down[len(down)-1] != fmt.Sprintf("u%02d", crm.MaxManagerDepth) {
			t.Fatalf("reports of u00: %v", down)
		}
	})
}
