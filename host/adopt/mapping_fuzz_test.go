package adopt_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/sdk"
)

// goWords are words of Go's own errors (mapstructure's, fmt's) that an
// operator reading a configuration error should never see.
var goWords = []string{"Go ", "struct", "interface {}", "map[", "[]interface", "int64", "float64", "%!", "reflect"}

// FuzzAdoptMapping feeds an adoption mapping through what crmguard does
// with it at start: the configuration file (YAML, or JSON, which YAML
// reads too) is loaded and its shape checked, then the mapping is
// resolved against a CRM schema that has every table and column it
// names (with integer or text ids, nullable or not). Every problem found
// on the way names its key in the operator's words; a mapping that
// resolves is rendered to SQL, by adopt and by the policy compiler, with
// one argument per placeholder and without a panic.
func FuzzAdoptMapping(f *testing.F) {
	for _, name := range []string{"espocrm", "jetpackcrm"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "config", "adopt", name+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false, true)
	}
	// Each fuzzing process runs one input at a time: one file will do.
	path := filepath.Join(f.TempDir(), "crmguard.yaml")
	f.Fuzz(func(t *testing.T, file []byte, intIDs, nullable bool) {
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		config.RegisterFlags(fs)
		if err := fs.Parse([]string{"--config", path}); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Source{Flags: fs, LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			speaksPlainly(t, err.Error(), string(file))
			return
		}
		if !cfg.Adopt.Enabled() {
			return
		}
		m, err := adopt.Resolve(cfg.Adopt, "crmguard", crmSchema(cfg.Adopt, intIDs, nullable))
		if err != nil {
			me, ok := err.(*adopt.MappingError)
			if !ok {
				t.Fatalf("Resolve: %v, want a MappingError", err)
			}
			for _, p := range me.Problems {
				if !strings.HasPrefix(p, "adopt.") {
					t.Fatalf("problem %q names no key", p)
				}
			}
			speaksPlainly(t, err.Error(), string(file))
			return
		}
		renders(t, m)
	})
}

// speaksPlainly fails when a message speaks Go, unless it quotes the
// words from the input.
func speaksPlainly(t *testing.T, msg, input string) {
	t.Helper()
	for _, w := range goWords {
		if strings.Contains(msg, w) && !strings.Contains(input, w) {
			t.Fatalf("the message speaks Go (%q): %s", w, msg)
		}
	}
}

// renders builds every condition a mapping stands for, as the store and
// the policy compiler do, and checks each has an argument per
// placeholder.
func renders(t *testing.T, m *adopt.Mapping) {
	t.Helper()
	check := func(what string, c adopt.Cond) {
		t.Helper()
		if got := strings.Count(c.SQL, "?"); got != len(c.Args) || c.SQL == "" {
			t.Fatalf("%s: %d placeholders, %d arguments: %s", what, got, len(c.Args), c.SQL)
		}
	}
	_ = m.Table(m.Users.Table) + m.HostTable("crmguard_grants")
	check("users live", m.Users.Live("u"))
	check("admin", m.IsAdmin("u"))
	if m.Teams != nil {
		check("teams live", m.Teams.Live("t"))
		check("members live", m.Teams.LiveMember("tm"))
	}
	ids := []string{"1", "7", "a'b"}
	links := func(t *adopt.Type) map[string]adopt.Link {
		out := map[string]adopt.Link{"owner": t.Owner}
		if t.Team != nil {
			out["team"] = *t.Team
		}
		if t.Parent != nil {
			out["parent"] = t.Parent.Link
		}
		return out
	}
	for _, rt := range slices.Sorted(maps.Keys(m.Types)) {
		typ := m.Types[rt]
		check(string(rt)+" live", typ.Live("r"))
		for name, l := range links(typ) {
			check(string(rt)+" "+name+" in", m.LinkIn(typ, l, "r", ids))
			check(string(rt)+" "+name+" none", m.LinkNone(typ, l, "r"))
			if l.Joined() {
				check(string(rt)+" "+name+" rows", m.JoinRows(typ, l, "r", "j"))
				check(string(rt)+" "+name+" rows of", l.RowsOf("j", adopt.IDArg(typ.ID, "7")))
			}
			_ = l.UnassignedValue()
		}
		tg := access.Adopted(m, crm.NewID(), "r")
		subject := access.Subject{UserID: "7", Teams: []string{"1", "x"}}
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		for _, p := range []sdk.Policy{access.BasePolicy(crm.DefaultSettings(), crm.Role{Name: crm.RoleMember}), everyKind()} {
			for _, a := range sdk.Actions {
				c := access.CompileFor(tg, p, subject, a, rt, now)
				check(string(rt)+" "+string(a)+" compiled", adopt.Cond{SQL: c.SQL + " ", Args: c.Args})
				_, branches := access.ListBranchesFor(tg, p, subject, a, rt, now)
				for _, b := range branches {
					check(string(rt)+" "+string(a)+" branch", adopt.Cond{SQL: b.SQL + " ", Args: b.Args})
				}
			}
		}
	}
}

// everyKind is a policy that asks about every fact of a record.
func everyKind() sdk.Policy {
	var p sdk.Policy
	r := sdk.Rule{
		Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}, {Kind: sdk.CondOwnerIn, Users: []string{"1", "2"}}, {Kind: sdk.CondUnowned},
			{Kind: sdk.CondCreatorSelf}, {Kind: sdk.CondCreatorUnowned}, {Kind: sdk.CondGranted, Sources: []string{"delegation"}},
			{Kind: sdk.CondParentAllows, Depth: 2}},
		All: []sdk.Cond{{Kind: sdk.CondTeamIn, Teams: []string{"1"}, Unteamed: true}},
	}
	for _, typ := range sdk.RecordTypes {
		for _, a := range sdk.Actions {
			p.SetRule(typ, a, r)
		}
	}
	return p
}

// crmSchema is a CRM database with every table and column the mapping
// names: timestamps as DATETIME, the rest integers (intIDs) or text.
type schema map[string][]adopt.SchemaColumn

func crmSchema(a config.AdoptConfig, intIDs, nullable bool) schema {
	s := schema{}
	add := func(table, col, dataType string) {
		if table == "" || col == "" {
			return
		}
		for _, c := range s[table] {
			if strings.EqualFold(c.Name, col) {
				return
			}
		}
		ct := dataType
		if dataType == "varchar" {
			ct = "varchar(64)"
		}
		s[table] = append(s[table], adopt.SchemaColumn{Name: col, DataType: dataType, ColumnType: ct, Nullable: nullable, MaxLength: 64})
	}
	id := "varchar"
	if intIDs {
		id = "int"
	}
	match := func(table string, m *config.AdoptMatch) {
		if m != nil {
			add(table, m.Column, "varchar")
		}
	}
	u := a.Users
	add(u.Table, u.ID, id)
	add(u.Table, u.Email, "varchar")
	for _, n := range u.Name {
		add(u.Table, n, "varchar")
	}
	match(u.Table, u.Active)
	match(u.Table, u.Deleted)
	if ad := u.Admin; ad != nil {
		if ad.Table == "" {
			match(u.Table, &ad.AdoptMatch)
		} else {
			add(ad.Table, ad.User, id)
			for i := range ad.Where {
				match(ad.Table, &ad.Where[i])
			}
		}
	}
	if tm := a.Teams; tm != nil {
		add(tm.Table, tm.ID, id)
		add(tm.Table, tm.Name, "varchar")
		match(tm.Table, tm.Deleted)
		add(tm.Members.Table, tm.Members.Team, id)
		add(tm.Members.Table, tm.Members.User, id)
		match(tm.Members.Table, tm.Members.Deleted)
	}
	link := func(table string, l config.AdoptLink) {
		if l.Table != "" {
			table = l.Table
			add(table, l.Record, id)
			for i := range l.Type {
				match(table, &l.Type[i])
			}
			match(table, l.Deleted)
		}
		add(table, l.Column, id)
	}
	for _, t := range a.Types {
		add(t.Table, t.ID, id)
		for i := range t.Where {
			match(t.Table, &t.Where[i])
		}
		match(t.Table, t.Deleted)
		if t.Owner != nil {
			link(t.Table, *t.Owner)
		}
		if t.Team != nil {
			link(t.Table, *t.Team)
		}
		add(t.Table, t.Creator, id)
		if t.Parent != nil {
			link(t.Table, t.Parent.AdoptLink)
		}
		add(t.Table, t.CreatedAt, "datetime")
		add(t.Table, t.UpdatedAt, "datetime")
		for _, col := range t.Fields {
			add(t.Table, col, "varchar")
		}
	}
	return s
}

func (s schema) Columns(table string) ([]adopt.SchemaColumn, bool, error) {
	cols, ok := s[table]
	return cols, ok, nil
}

func (s schema) Tables() ([]string, error) {
	var out []string
	for t := range s {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}
