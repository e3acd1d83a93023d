package adopt

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	intCol, textCol := Column{Name: "ID", Kind: KindInt}, Column{Name: "id", Kind: KindText, Size: 17}
	for _, tc := range []struct {
		c    Column
		id   string
		want bool
	}{
		{intCol, "7", true}, {intCol, "-1", true}, {intCol, "7abc", false}, {intCol, "07", false}, {intCol, "1.5", false}, {intCol, "", false},
		{intCol, "99999999999999999999", false},
		{textCol, "64f1c2a9e3b7d1234", true}, {textCol, "64f1c2a9e3b7d12345", false}, {textCol, "a b", false},
		{textCol, "caf\u00e9", false}, {textCol, "x\x00", false},
	} {
		if got := ValidID(tc.c, tc.id); got != tc.want {
			t.Errorf("ValidID(%s, %q) = %v, want %v", tc.c.Kind, tc.id, got, tc.want)
		}
	}
}

func TestToColumn(t *testing.T) {
	for _, tc := range []struct {
		c       Column
		in      any
		want    any
		problem string
	}{
		{Column{Kind: KindInt}, json.Number("42"), int64(42), ""},
		{Column{Kind: KindInt}, json.Number("4.2"), nil, "whole number"},
		{Column{Kind: KindInt}, "42", nil, "whole number"},
		{Column{Kind: KindFloat}, 2.5, 2.5, ""},
		{Column{Kind: KindText, Size: 3}, "abcd", nil, "at most 3 characters"},
		{Column{Kind: KindText}, true, nil, "must be a string"},
		{Column{Kind: KindTime}, "2026-01-31T09:30:00+01:00", "2026-01-31 08:30:00", ""},
		{Column{Kind: KindDate}, "2026-02-30", nil, "a date"},
		{Column{Name: "c", Kind: KindText}, nil, nil, "NOT NULL"},
		{Column{Kind: KindText, Nullable: true}, nil, nil, ""},
	} {
		got, err := ToColumn(tc.c, tc.in)
		switch {
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("ToColumn(%s, %#v) = %v, %v; want an error about %q", tc.c.Kind, tc.in, got, err, tc.problem)
		case tc.problem == "" && (err != nil || got != tc.want):
			t.Errorf("ToColumn(%s, %#v) = %#v, %v; want %#v", tc.c.Kind, tc.in, got, err, tc.want)
		}
	}
}

// A join table's rows are always matched on the record's type, and a
// nullable soft-delete flag's NULL reads as not deleted.
func TestLinkSQL(t *testing.T) {
	m := &Mapping{Database: "crm"}
	deleted := &Match{Column: Column{Name: "deleted", Kind: KindInt, Nullable: true}, Values: []any{int64(1)}}
	team := Link{Table: "entity_team", Record: Column{Name: "entity_id"}, Column: Column{Name: "team_id"},
		Type: []Match{{Column: Column{Name: "entity_type"}, Values: []any{"Lead"}}}, Deleted: deleted}
	lead := &Type{Table: "lead", ID: Column{Name: "id"}, Deleted: deleted, Team: &team,
		Owner: Link{Column: Column{Name: "assigned_user_id", Nullable: true}, Unassigned: []any{"", nil}}}

	in := m.LinkIn(lead, team, "r", []string{"t1", "t2"})
	want := "EXISTS (SELECT 1 FROM `crm`.`entity_team` `r_team_id` WHERE (`r_team_id`.`entity_id` = `r`.`id` AND `r_team_id`.`entity_type` = ? AND " +
		"(`r_team_id`.`deleted` IS NULL OR NOT `r_team_id`.`deleted` = ?)) AND `r_team_id`.`team_id` IN (?, ?))"
	if in.SQL != want || len(in.Args) != 4 || in.Args[0] != "Lead" {
		t.Errorf("LinkIn = %s %v\nwant    %s", in.SQL, in.Args, want)
	}
	none := m.LinkNone(lead, lead.Owner, "r")
	if none.SQL != "(`r`.`assigned_user_id` = ? OR `r`.`assigned_user_id` IS NULL)" || len(none.Args) != 1 {
		t.Errorf("LinkNone of the owner = %s %v", none.SQL, none.Args)
	}
	if live := lead.Live("lead"); live.SQL != "(`lead`.`deleted` IS NULL OR NOT `lead`.`deleted` = ?)" {
		t.Errorf("Live = %s", live.SQL)
	}
	if c := (Match{Column: Column{Name: "meta_value"}, Contains: `50%_"x"`}).SQL("u"); c.Args[0] != `%50!%!_"x"%` {
		t.Errorf("contains escapes LIKE's wildcards: %v", c.Args)
	}
}
