package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/service"
)

func outboxCommand(env *environment) *cobra.Command {
	outbox := &cobra.Command{
		Use:   "outbox",
		Short: "List and replay the after-write events plugins were not given (dead letters)",
		Args:  exactArgs(0, "a subcommand"),
	}
	list := &cobra.Command{
		Use:   "list [--install SLUG] [--plugin ID]",
		Short: "List the dead letters, oldest event first",
		Args:  exactArgs(0, "flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := deadLetterFilter(cmd)
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				return listDeadLetters(ctx, env, h.Service(), f)
			})
		},
	}
	replay := &cobra.Command{
		Use:   "replay ID... | --all [--install SLUG] [--plugin ID]",
		Short: "Put dead letters back in the outbox, due now, with a fresh count of attempts",
		Long: "Put dead letters back in the outbox, due now, with a fresh count of attempts and a fresh\n" +
			"retry window (outbox.retry_for): the ones named (all of them, or none if one is unknown), or,\n" +
			"with --all, every one of the install and plugin given. A running host delivers them.",
		RunE: func(cmd *cobra.Command, args []string) error {
			all, _ := cmd.Flags().GetBool("all")
			f := deadLetterFilter(cmd)
			switch {
			case all && len(args) > 0:
				return usageError{fmt.Errorf("%s takes ids or --all, not both", cmd.CommandPath())}
			case !all && len(args) == 0:
				return usageError{fmt.Errorf("%s needs the ids of dead letters, or --all", cmd.CommandPath())}
			case !all && (f.Install != "" || f.Plugin != ""):
				return usageError{fmt.Errorf("%s: --install and --plugin narrow --all; ids need neither", cmd.CommandPath())}
			}
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				n := len(args)
				var err error
				if all {
					n, err = h.Service().ReplayAllDeadLetters(ctx, f)
				} else {
					err = h.Service().ReplayDeadLetters(ctx, args)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "replayed %d dead %s\n", n, map[bool]string{true: "letter", false: "letters"}[n == 1])
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{list, replay} {
		c.Flags().String("install", "", "only the dead letters of the install with this slug")
		c.Flags().String("plugin", "", "only the dead letters for the plugin with this id")
	}
	replay.Flags().Bool("all", false, "replay every dead letter (of --install and --plugin, when given)")
	outbox.AddCommand(list, replay)
	return outbox
}

func deadLetterFilter(cmd *cobra.Command) service.DeadLetterFilter {
	slug, _ := cmd.Flags().GetString("install")
	plugin, _ := cmd.Flags().GetString("plugin")
	return service.DeadLetterFilter{Install: slug, Plugin: plugin}
}

// listDeadLetters prints every dead letter the filter selects, a page at a
// time.
func listDeadLetters(ctx context.Context, env *environment, svc *service.Service, f service.DeadLetterFilter) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	q := service.DeadLetterQuery{DeadLetterFilter: f, Limit: service.MaxLimit}
	listed := 0
	for {
		letters, next, err := svc.DeadLetters(ctx, q)
		if err != nil {
			return err
		}
		for _, d := range letters {
			if listed == 0 {
				fmt.Fprintln(tw, "ID\tINSTALL\tPLUGIN\tOPERATION\tRECORD\tATTEMPTS\tWRITTEN\tDIED\tLAST ERROR")
			}
			listed++
			op, record := orDash(d.Operation), "-"
			if d.RecordID != "" {
				record = d.RecordType + "/" + d.RecordID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.InstallSlug, d.PluginID, op, record, d.Attempts,
				d.CreatedAt.Format(time.RFC3339), d.DiedAt.Format(time.RFC3339), strings.ReplaceAll(d.LastError, "\n", " "))
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if listed == 0 {
		fmt.Fprintln(env.stdout, "no dead letters")
		return nil
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
