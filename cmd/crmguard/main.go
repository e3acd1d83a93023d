// Command crmguard serves the team CRM with record-level access control and
// administers it from the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	// The time zones of installs' settings are the IANA database's, and
	// must mean the same on every machine, with zoneinfo files or not.
	_ "time/tzdata"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/crm"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks a mistake in the command line itself (exit status 2).
type usageError struct{ error }

// run executes one command line and returns the exit status: 0 on success,
// 1 when the command failed, 2 when the command line was wrong.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "crmguard: %s\n", message(err))
	var usage usageError
	if errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "Run 'crmguard --help' for usage.")
		return 2
	}
	return 1
}

// message is what a person sees for err: the safe message of a domain
// error, or the whole chain for anything else.
func message(err error) string {
	if e, ok := crm.AsError(err); ok {
		return e.Message
	}
	return err.Error()
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "crmguard",
		Short:         "Record-level access control for a team CRM",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	config.RegisterFlags(root.PersistentFlags())

	env := &environment{root: root, stdout: stdout, stderr: stderr}
	root.AddCommand(
		serveCommand(env),
		migrateCommand(env),
		installCommand(env),
		userCommand(env),
		tokenCommand(env),
		demoCommand(env),
		checkCommand(env),
		pluginsCommand(env),
		outboxCommand(env),
		adoptCommand(env),
	)
	return root
}

// environment is what every command shares: its output streams and the
// way to load the configuration and open the host.
type environment struct {
	root           *cobra.Command
	stdout, stderr io.Writer
}

// open loads the configuration and opens a migrated host.
func (e *environment) open(ctx context.Context) (*host.Host, config.Config, error) {
	cfg, err := config.Load(config.Source{Flags: e.root.PersistentFlags()})
	if err != nil {
		return nil, cfg, err
	}
	h, err := host.New(ctx, cfg, e.logger(cfg))
	return h, cfg, err
}

func (e *environment) logger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config.Load
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// withHost runs fn with an open host and closes it afterwards.
func (e *environment) withHost(cmd *cobra.Command, fn func(ctx context.Context, h *host.Host) error) error {
	ctx := cmd.Context()
	h, _, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(ctx, h)
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", what, len(args))}
		}
		return nil
	}
}

// requireFlags fails with a usage error when a required flag is empty.
func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		if v, _ := cmd.Flags().GetString(name); v == "" {
			return usageError{fmt.Errorf("%s needs --%s", cmd.CommandPath(), name)}
		}
	}
	return nil
}
