package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// adoptConfig loads an example mapping with crmguard's tables in the
// database of dsn, beside the CRM's.
func adoptConfig(t *testing.T, example, dsn string, edit func(string) string) config.Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "adopt", example+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	if edit != nil {
		text = edit(text)
	}
	path := filepath.Join(t.TempDir(), "crmguard.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CRMGUARD_CONFIG": path, "CRMGUARD_DB_DSN": dsn}
	cfg, err := config.Load(config.Source{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Adopt.Database = ""
	return cfg
}

// crmDatabase is a database holding a real CRM's schema, unchanged.
func crmDatabase(t *testing.T, schema string) string {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	storetest.LoadSQL(t, dsn, storetest.CRMSchema(schema))
	return dsn
}

func TestAdoptCheckOnTheShippedSchemas(t *testing.T) {
	for _, name := range []string{"espocrm", "jetpackcrm"} {
		t.Run(name, func(t *testing.T) {
			dsn := crmDatabase(t, name)
			m, report, err := host.CheckAdoption(context.Background(), adoptConfig(t, name, dsn, nil))
			if err != nil {
				t.Fatal(err)
			}
			if len(report.Types) != len(m.Types) || report.Types[0].Records != 0 {
				t.Errorf("report = %+v", report)
			}
		})
	}
}

// A mapping naming what the schema does not have is refused, every
// problem named by its key with what was found.
func TestAdoptCheckNamesMappingErrors(t *testing.T) {
	jetpack := crmDatabase(t, "jetpackcrm")
	espo := crmDatabase(t, "espocrm")
	for _, tc := range []struct {
		name, example, dsn string
		from, to           string
		want               []string
	}{
		{"missing column", "jetpackcrm", jetpack, "owner: {column: zbs_owner, unassigned: [-1, 0]}\n      fields: &", "owner: {column: owner, unassigned: [-1, 0]}\n      fields: &",
			[]string{`adopt.types.lead.owner.column: column "owner" not found in table wp_zbs_contacts; columns are: ID, zbs_site, zbs_team, zbs_owner, zbsc_status`}},
		{"missing table", "espocrm", espo, "table: team_user", "table: team_users",
			[]string{`adopt.teams.members.table`, `table "team_users" not found in the CRM's database; tables are: account, account_contact`}},
		{"ids of another kind", "espocrm", espo, "creator: created_by_id\n      # entity_team", "creator: do_not_call\n      # entity_team",
			[]string{`adopt.types.lead.creator: column do_not_call holds integer values but the ids it refers to (user.id) are text`}},
		{"value of another kind", "jetpackcrm", jetpack, "owner: {column: zbs_owner, unassigned: [-1, 0]}\n      fields: &", "owner: {column: zbs_owner, unassigned: [none]}\n      fields: &",
			[]string{`adopt.types.lead.owner.unassigned[0]: column zbs_owner holds integers, got none`}},
		{"NOT NULL owner without a sentinel", "jetpackcrm", jetpack, "owner: {column: zbs_owner, unassigned: [-1, 0]}\n      fields: &", "owner: {column: zbs_owner}\n      fields: &",
			[]string{`adopt.types.lead.owner.unassigned: column wp_zbs_contacts.zbs_owner may not be NULL`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adoptConfig(t, tc.example, tc.dsn, func(s string) string {
				if !strings.Contains(s, tc.from) {
					t.Fatalf("example lacks %q", tc.from)
				}
				return strings.Replace(s, tc.from, tc.to, 1)
			})
			_, _, err := host.CheckAdoption(context.Background(), cfg)
			if err == nil {
				t.Fatal("a bad mapping passed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
