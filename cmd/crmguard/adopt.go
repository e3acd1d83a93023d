package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host"
)

func adoptCommand(env *environment) *cobra.Command {
	adopt := &cobra.Command{Use: "adopt", Short: "Adoption mode: access control on an existing CRM's tables", Args: exactArgs(0, "a subcommand")}
	check := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Check the adopt mapping against the CRM's database and show what it finds; changes nothing",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.Source{Flags: env.root.PersistentFlags()})
			if err != nil {
				return err
			}
			m, report, err := host.CheckAdoption(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			where := "crmguard's own database"
			if m.Database != "" {
				where = "database " + m.Database
			}
			fmt.Fprintf(env.stdout, "The mapping of install %s onto %s is valid.\n\n", m.Install, where)
			w := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(w, "users\t%s\t%d rows, %d active, %d administrators\n", m.Users.Table, report.Users, report.ActiveUsers, report.Admins)
			if m.Teams != nil {
				fmt.Fprintf(w, "teams\t%s\t%d teams, %d memberships (%s)\n", m.Teams.Table, report.Teams, report.Memberships, m.Teams.Members.Table)
			}
			for _, t := range report.Types {
				line := fmt.Sprintf("%s\t%s\t%d records, %d assigned to %d owners, %d unassigned", t.Type, t.Table, t.Records, t.Assigned, t.Owners, t.Records-t.Assigned)
				if t.InATeam >= 0 {
					line += fmt.Sprintf(", %d in a team", t.InATeam)
				}
				if t.WithParent >= 0 {
					line += fmt.Sprintf(", %d with a parent", t.WithParent)
				}
				fmt.Fprintln(w, line)
			}
			fmt.Fprintf(w, "record facts\t\t%s\n", freshness(m.RecordCache.String(), m.RecordCache == 0))
			return w.Flush()
		},
	}
	adopt.AddCommand(check)
	return adopt
}

// freshness says which guarantee the record cache setting gives.
func freshness(bound string, fresh bool) string {
	if fresh {
		return "read fresh from the CRM's tables for every decision"
	}
	return "cached for at most " + bound + "; POST /v1/records/{type}/{id}:changed drops a record's at once"
}
