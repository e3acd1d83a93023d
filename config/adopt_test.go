package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/config"
)

// The example mappings load, and say what the two CRMs need.
func TestAdoptExamplesLoad(t *testing.T) {
	for _, name := range []string{"espocrm", "jetpackcrm"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(config.Source{Flags: flags(t, "--config", filepath.Join("adopt", name+".yaml")), LookupEnv: env(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Adopt.Enabled() || cfg.Adopt.Install != name {
				t.Fatalf("adopt = %+v, want install %s", cfg.Adopt, name)
			}
			lead, ok := cfg.Adopt.Types["lead"]
			if !ok || lead.Owner == nil {
				t.Fatalf("lead mapping = %+v", lead)
			}
		})
	}
	cfg, err := config.Load(config.Source{Flags: flags(t, "--config", "adopt/jetpackcrm.yaml"), LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	lead := cfg.Adopt.Types["lead"]
	if got := lead.Owner.Unassigned; len(got) != 2 {
		t.Errorf("jetpack lead owner unassigned = %#v, want -1 and 0", got)
	}
	if got := cfg.Adopt.Types["contact"].Fields["email"]; got != "zbsc_email" {
		t.Errorf("contact fields (a YAML alias of the lead's) email = %q", got)
	}
	espo, err := config.Load(config.Source{Flags: flags(t, "--config", "adopt/espocrm.yaml"), LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if team := espo.Adopt.Types["lead"].Team; team == nil || len(team.Type) != 1 || team.Type[0].Values[0] != "Lead" {
		t.Errorf("espocrm lead team = %+v, want entity_team typed Lead", team)
	}
	if got := espo.Adopt.Types["lead"].Owner.Unassigned; len(got) != 2 || got[1] != nil {
		t.Errorf("espocrm unassigned = %#v, want \"\" and null", got)
	}
}

// A mapping's shape is checked at load, each problem naming its key.
func TestAdoptShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"needs mysql", `
adopt:
  install: crm
  users: {table: u, id: id}
  types: {lead: {table: l, id: id, owner: {column: o}, fields: {a: a}}}`,
			[]string{"adopt: adoption mode needs database.driver mysql"}},
		{"join without type", mysqlHead + `
  types:
    lead:
      table: lead
      id: id
      owner: {column: assigned_user_id}
      team: {table: entity_team, record: entity_id, column: team_id}
      fields: {a: a}`,
			[]string{"adopt.types.lead.team.type: a join table must say which of its rows are for this record type", "adopt.types.lead.team: records have teams but adopt.teams does not say"}},
		{"bad names", mysqlHead + `
  types:
    leads: {table: x}
    lead:
      table: "lead; DROP TABLE x"
      id: id
      owner: {column: o}
      fields: {first_name: fname}
      search: [email]`,
			[]string{`adopt.types.leads: unknown record type "leads"`, `adopt.types.lead.table: "lead; DROP TABLE x" is not a table or column name`, `adopt.types.lead.search[0]: "email" is not one of the type's fields`}},
		{"missing owner and fields", mysqlHead + `
  types:
    contact: {table: c, id: id, parent: {record_type: account, column: account_id}}`,
			[]string{"adopt.types.contact.owner: must say who a record is assigned to", "adopt.types.contact.fields: must list at least one column", "adopt.types.contact.parent.record_type: account is not mapped in adopt.types"}},
		{"match without values", mysqlHead + `
  types:
    lead: {table: l, id: id, owner: {column: o}, fields: {a: a}, deleted: {column: deleted}}`,
			[]string{"adopt.types.lead.deleted: must give values"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "crmguard.yaml", tc.yaml)
			_, err := config.Load(config.Source{Flags: flags(t, "--config", path), LookupEnv: env(nil)})
			if err == nil {
				t.Fatal("loaded a bad mapping")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

const mysqlHead = `
database: {driver: mysql, dsn: "root@tcp(127.0.0.1:3306)/crm"}
adopt:
  install: crm
  users: {table: user, id: id}`
