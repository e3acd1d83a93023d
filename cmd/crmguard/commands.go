package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/demo"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/sdk"
)

func serveCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Apply pending migrations and serve the HTTP API until SIGTERM",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				return h.ListenAndServe(ctx)
			})
		},
	}
}

func migrateCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Opening the host migrates, under a lock shared with serve.
			return env.withHost(cmd, func(context.Context, *host.Host) error {
				fmt.Fprintln(env.stdout, "database is up to date")
				return nil
			})
		},
	}
}

func installCommand(env *environment) *cobra.Command {
	install := &cobra.Command{Use: "install", Short: "Manage installs (tenants)", Args: exactArgs(0, "a subcommand")}
	create := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create an install with the built-in roles and default settings",
		Args:  exactArgs(1, "the install's slug"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				in, err := h.Service().CreateInstall(ctx, args[0], name)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "created install %s (%s), id %s\n", in.Slug, in.Name, in.ID)
				return nil
			})
		},
	}
	create.Flags().String("name", "", "display name (default: the slug)")
	install.AddCommand(create)
	return install
}

func userCommand(env *environment) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage users", Args: exactArgs(0, "a subcommand")}
	create := &cobra.Command{
		Use:   "create --install SLUG --email EMAIL [--name NAME] [--role ROLE] [--manager EMAIL]",
		Short: "Create a user in an install",
		Args:  exactArgs(0, "flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "install", "email"); err != nil {
				return err
			}
			f := cmd.Flags()
			slug, _ := f.GetString("install")
			email, _ := f.GetString("email")
			name, _ := f.GetString("name")
			role, _ := f.GetString("role")
			managerEmail, _ := f.GetString("manager")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				svc := h.Service()
				in, err := svc.InstallBySlug(ctx, slug)
				if err != nil {
					return err
				}
				nu := service.NewUser{Email: email, Name: name, Role: role}
				if managerEmail != "" {
					manager, err := svc.UserByEmail(ctx, in, managerEmail)
					if err != nil {
						return fmt.Errorf("--manager: %s", message(err))
					}
					nu.ManagerID = manager.ID
				}
				u, err := svc.AddUser(ctx, in, nu)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "created user %s (%s) in %s, id %s\n", u.Email, u.Role, in.Slug, u.ID)
				return nil
			})
		},
	}
	create.Flags().String("install", "", "slug of the install (required)")
	create.Flags().String("email", "", "the user's e-mail address (required)")
	create.Flags().String("name", "", "display name (default: the e-mail's local part)")
	create.Flags().String("role", "member", "role: admin, manager, member or a custom role of the install")
	create.Flags().String("manager", "", "e-mail of the user's manager in the same install")
	user.AddCommand(create, userUpdateCommand(env))
	return user
}

func tokenCommand(env *environment) *cobra.Command {
	token := &cobra.Command{Use: "token", Short: "Manage API tokens", Args: exactArgs(0, "a subcommand")}
	create := &cobra.Command{
		Use:   "create --install SLUG (--email EMAIL | --user ID | --service)",
		Short: "Issue an API token and print it alone on stdout (it is shown once)",
		Long: "Issue an API token for a user (--email), or a service token (--service) with which an\n" +
			"application may ask the decision API (/v1/authz) about any user of the install.",
		Args: exactArgs(0, "flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			serviceToken, _ := f.GetBool("service")
			email, _ := f.GetString("email")
			userID, _ := f.GetString("user")
			if err := requireFlags(cmd, "install"); err != nil {
				return err
			}
			given := 0
			for _, set := range []bool{serviceToken, email != "", userID != ""} {
				if set {
					given++
				}
			}
			if given != 1 {
				return usageError{fmt.Errorf("%s needs exactly one of --email, --user and --service", cmd.CommandPath())}
			}
			slug, _ := f.GetString("install")
			label, _ := f.GetString("label")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				svc := h.Service()
				if serviceToken {
					in, err := svc.InstallBySlug(ctx, slug)
					if err != nil {
						return err
					}
					secret, err := svc.CreateServiceToken(ctx, in, label)
					if err != nil {
						return err
					}
					fmt.Fprintln(env.stdout, secret)
					return nil
				}
				var u crm.User
				var err error
				if userID != "" {
					u, err = svc.UserByID(ctx, slug, userID)
				} else {
					_, u, err = userOf(ctx, svc, slug, email)
				}
				if err != nil {
					return err
				}
				secret, err := svc.CreateToken(ctx, u, label)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.stdout, secret)
				return nil
			})
		},
	}
	create.Flags().String("install", "", "slug of the install (required)")
	create.Flags().String("email", "", "e-mail of the user the token acts as")
	create.Flags().String("user", "", "id of the user the token acts as (in adoption mode, the CRM's user id)")
	create.Flags().Bool("service", false, "issue a service token of the install instead of a user's token")
	create.Flags().String("label", "cli", "a label to recognise the token by")
	token.AddCommand(create)
	return token
}

func demoCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Create the demo install with users and records (idempotent) and print a new token per demo user",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				users, err := demo.Seed(ctx, h.Service())
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "Demo install %q is ready. Tokens (new each run; earlier demo tokens no longer work):\n\n", demo.Slug)
				w := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
				for _, u := range users {
					fmt.Fprintf(w, "  %s\t%s\t%s\n", u.Email, u.Role, u.Token)
				}
				w.Flush()
				fmt.Fprintln(env.stdout)
				return nil
			})
		},
	}
}

func checkCommand(env *environment) *cobra.Command {
	check := &cobra.Command{
		Use:   "check --install SLUG --email EMAIL --type TYPE [--id ID] --action ACTION [--explain]",
		Short: "Say whether a user may take an action on a record, or add one of a type, as the API would decide",
		Args:  exactArgs(0, "flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			required := []string{"install", "email", "type", "action"}
			if action, _ := cmd.Flags().GetString("action"); action != string(sdk.ActionAdd) {
				required = append(required, "id") // add asks about a record not yet created
			}
			if err := requireFlags(cmd, required...); err != nil {
				return err
			}
			f := cmd.Flags()
			slug, _ := f.GetString("install")
			email, _ := f.GetString("email")
			typ, _ := f.GetString("type")
			id, _ := f.GetString("id")
			action, _ := f.GetString("action")
			explain, _ := f.GetBool("explain")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				svc := h.Service()
				in, u, err := userOf(ctx, svc, slug, email)
				if err != nil {
					return err
				}
				p, err := svc.PrincipalFor(ctx, in, u)
				if err != nil {
					return err
				}
				results, err := svc.Check(ctx, p, []service.CheckRequest{{Action: sdk.Action(action), Type: sdk.RecordType(typ), ID: id}}, explain)
				if err != nil {
					return err
				}
				answer := "denied"
				if results[0].Allowed {
					answer = "allowed"
				}
				fmt.Fprintln(env.stdout, answer)
				if explain && results[0].Reason != nil {
					fmt.Fprintln(env.stdout, results[0].Reason.Text())
				}
				return nil
			})
		},
	}
	check.Flags().String("install", "", "slug of the install (required)")
	check.Flags().String("email", "", "e-mail of the user the question is about (required)")
	check.Flags().String("type", "", "record type: lead, contact, account, opportunity or activity (required)")
	check.Flags().String("id", "", "the record's id (required, except with add)")
	check.Flags().String("action", "", "view, edit, delete, assign, share, or add: may the user add a record of the type (required)")
	check.Flags().Bool("explain", false, "also print the reason")
	return check
}

// userOf finds a user by install slug and e-mail, as commands name them.
func userOf(ctx context.Context, svc *service.Service, slug, email string) (crm.Install, crm.User, error) {
	in, err := svc.InstallBySlug(ctx, slug)
	if err != nil {
		return crm.Install{}, crm.User{}, err
	}
	u, err := svc.UserByEmail(ctx, in, email)
	return in, u, err
}

func pluginsCommand(env *environment) *cobra.Command {
	plugins := &cobra.Command{Use: "plugins", Short: "List plugins, and activate or deactivate them for an install", Args: exactArgs(0, "a subcommand")}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the plugins of the plugin directory (and, with --install, which that install has active)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			slug, _ := cmd.Flags().GetString("install")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				var in crm.Install
				if slug != "" {
					var err error
					if in, err = h.Service().InstallBySlug(ctx, slug); err != nil {
						return err
					}
				}
				list, problems, err := h.Service().InstallPlugins(ctx, in)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tVERSION\tHOOKS\tSTATE")
				for _, p := range list {
					state := "running"
					switch {
					case !p.Running:
						state = "active, not running"
					case slug != "" && p.Active:
						state = "running, active in " + slug
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Version, strings.Join(p.Hooks, ","), state)
				}
				tw.Flush()
				for _, p := range problems {
					fmt.Fprintf(env.stdout, "not started: %s: %s\n", p.Path, p.Error)
				}
				return nil
			})
		},
	}
	list.Flags().String("install", "", "slug of an install, to show which plugins it has active")
	plugins.AddCommand(list)
	for _, on := range []bool{true, false} {
		verb := map[bool]string{true: "activate", false: "deactivate"}[on]
		c := &cobra.Command{
			Use:   verb + " ID --install SLUG",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " a plugin for one install",
			Args:  exactArgs(1, "the plugin's id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := requireFlags(cmd, "install"); err != nil {
					return err
				}
				slug, _ := cmd.Flags().GetString("install")
				return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
					in, err := h.Service().InstallBySlug(ctx, slug)
					if err != nil {
						return err
					}
					if _, err := h.Service().OperatorSetPluginActive(ctx, in, args[0], on); err != nil {
						return err
					}
					fmt.Fprintf(env.stdout, "%sd %s for %s\n", verb, args[0], slug)
					return nil
				})
			},
		}
		c.Flags().String("install", "", "slug of the install (required)")
		plugins.AddCommand(c)
	}
	return plugins
}
