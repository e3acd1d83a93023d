package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

func userUpdateCommand(env *environment) *cobra.Command {
	update := &cobra.Command{
		Use:   `update --install SLUG --user ID|EMAIL [--role R] [--manager ID|EMAIL|""] [--name N] [--disable|--enable]`,
		Short: "Change a user's role, manager, name, or disable or enable them; prints the user",
		Long: "Change a user of an install, as PATCH /v1/users/{id} does for its admins: every replica\n" +
			"honours the change at once, it is audited, and the install's last enabled admin cannot be\n" +
			"removed. --manager \"\" removes the manager. A disabled user's tokens stop working until\n" +
			"they are enabled again.",
		Args: exactArgs(0, "flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "install", "user"); err != nil {
				return err
			}
			f := cmd.Flags()
			disable, _ := f.GetBool("disable")
			enable, _ := f.GetBool("enable")
			if disable && enable {
				return usageError{fmt.Errorf("%s takes --disable or --enable, not both", cmd.CommandPath())}
			}
			var change service.UserChange
			for name, field := range map[string]**string{"role": &change.Role, "name": &change.Name, "manager": &change.ManagerID} {
				if f.Changed(name) {
					v, _ := f.GetString(name)
					*field = &v
				}
			}
			if disable || enable {
				change.Disabled = &disable
			}
			slug, _ := f.GetString("install")
			who, _ := f.GetString("user")
			return env.withHost(cmd, func(ctx context.Context, h *host.Host) error {
				svc := h.Service()
				in, err := svc.InstallBySlug(ctx, slug)
				if err != nil {
					return err
				}
				before, err := svc.FindUser(ctx, in, who)
				if err != nil {
					return err
				}
				if change.ManagerID != nil && *change.ManagerID != "" {
					manager, err := svc.FindUser(ctx, in, *change.ManagerID)
					if err != nil {
						return fmt.Errorf("--manager: %s", message(err))
					}
					change.ManagerID = &manager.ID
				}
				u, err := svc.ChangeUser(ctx, in, before.ID, change)
				if err != nil {
					return err
				}
				verb := "updated"
				if u == before {
					verb = "unchanged:"
				}
				fmt.Fprintf(env.stdout, "%s user %s in %s, id %s\n", verb, u.Email, in.Slug, u.ID)
				return printUser(ctx, env.stdout, svc, in, u)
			})
		},
	}
	f := update.Flags()
	f.String("install", "", "slug of the install (required)")
	f.String("user", "", "id or e-mail of the user to change (required)")
	f.String("role", "", "the user's new role: admin, manager, member or a custom role of the install")
	f.String("manager", "", `id or e-mail of the user's new manager in the same install; "" for none`)
	f.String("name", "", "the user's new display name")
	f.Bool("disable", false, "disable the user: their tokens stop working, and nothing new is assigned to them")
	f.Bool("enable", false, "enable a disabled user again: their tokens work again")
	return update
}

// printUser writes what a user is now, one field a line.
func printUser(ctx context.Context, w io.Writer, svc *service.Service, in crm.Install, u crm.User) error {
	manager := "none"
	if u.ManagerID != "" {
		m, err := svc.FindUser(ctx, in, u.ManagerID)
		if err != nil {
			return err
		}
		manager = m.Email + " (" + m.ID + ")"
	}
	state := "enabled"
	if u.Disabled {
		state = "disabled"
	}
	fmt.Fprintf(w, "  name:    %s\n  role:    %s\n  manager: %s\n  state:   %s\n", u.Name, u.Role, manager, state)
	return nil
}
