package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// CreateInstall creates an install with the built-in roles and default
// settings.
func (s *Service) CreateInstall(ctx context.Context, slug, name string) (crm.Install, error) {
	if err := crm.ValidateSlug(slug); err != nil {
		return crm.Install{}, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = slug
	}
	if len(name) > 255 {
		return crm.Install{}, crm.Invalid("invalid_name", "name: at most 255 characters")
	}
	in := crm.Install{ID: crm.NewID(), Slug: slug, Name: name, Settings: crm.DefaultSettings(), CreatedAt: s.clock()}
	err := s.db.InTx(ctx, func(tx *store.Tx) error { return tx.CreateInstall(ctx, in) })
	if errors.Is(err, store.ErrDuplicate) {
		return crm.Install{}, crm.Errorf(crm.KindConflict, "install_exists", "an install with slug %q already exists", slug)
	}
	if err != nil {
		return crm.Install{}, fmt.Errorf("create install: %w", err)
	}
	return in, nil
}

// InstallBySlug returns an install, for the command line.
func (s *Service) InstallBySlug(ctx context.Context, slug string) (crm.Install, error) {
	missing := crm.Errorf(crm.KindNotFound, "unknown_install", "no install with slug %q", crm.Truncate(slug, 70))
	if crm.ValidateSlug(slug) != nil { // no install has it: the database is not asked
		return crm.Install{}, missing
	}
	in, err := s.db.InstallBySlug(ctx, slug)
	return in, notFound(err, missing, "install")
}

// NewUser is the input for creating a user.
type NewUser struct {
	Email     string
	Name      string
	Role      string // default member
	ManagerID string // optional
}

// CreateUser adds a user to the principal's install; only administrators
// may.
func (s *Service) CreateUser(ctx context.Context, p crm.Principal, nu NewUser) (crm.User, error) {
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return crm.User{}, err
	}
	return s.AddUser(ctx, p.Install, nu)
}

// AddUser adds a user to an install without an access check, for the
// command line and set-up. A user with a manager joins the reports of that
// manager and of every manager above, whose cached policies it voids, as
// it voids every policy of the install: plugins derive them from who has
// which role.
func (s *Service) AddUser(ctx context.Context, in crm.Install, nu NewUser) (crm.User, error) {
	if s.db.Adoption(in.ID) != nil {
		return crm.User{}, errCRMUsers
	}
	// Policies of the install's users may change with a new user (see
	// invalidateUserChange): while other replicas cannot be told, no user
	// is added.
	if err := s.checkWritable(ctx); err != nil {
		return crm.User{}, err
	}
	email, err := crm.NormalizeEmail(nu.Email)
	if err != nil {
		return crm.User{}, err
	}
	if nu.Role == "" {
		nu.Role = crm.RoleMember
	}
	if err := crm.ValidateRoleName(nu.Role); err != nil {
		return crm.User{}, err
	}
	name := strings.TrimSpace(nu.Name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if name, err = userName(name); err != nil {
		return crm.User{}, err
	}
	u := crm.User{ID: crm.NewID(), InstallID: in.ID, Email: email, Name: name, Role: nu.Role, ManagerID: nu.ManagerID, CreatedAt: s.clock()}
	var above []string // whose reports the new user joins
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Role(ctx, in.ID, u.Role); err != nil {
			return notFound(err, crm.Invalid("unknown_role", "role: no role %q in this install", u.Role), "role")
		}
		if u.ManagerID != "" {
			if err := crm.ValidateID("manager_id", u.ManagerID); err != nil {
				return err
			}
			if err := checkAssignable(ctx, &tx.Queries, in.ID, "manager_id", u.ManagerID); err != nil {
				return err
			}
			links, err := tx.ManagerLinks(ctx, in.ID)
			if err != nil {
				return err
			}
			above = append([]string{u.ManagerID}, links.Managers(u.ManagerID)...)
		}
		return tx.CreateUser(ctx, u)
	})
	if errors.Is(err, store.ErrDuplicate) {
		return crm.User{}, crm.Errorf(crm.KindConflict, "email_taken", "a user with e-mail %s already exists in this install", email)
	}
	if err != nil {
		return crm.User{}, err
	}
	s.invalidateUserChange(ctx, in.ID, above...)
	return u, nil
}

// UserByID returns a user of the install with the given slug, for tools.
func (s *Service) UserByID(ctx context.Context, slug, id string) (crm.User, error) {
	in, err := s.InstallBySlug(ctx, slug)
	if err != nil {
		return crm.User{}, err
	}
	if err := s.ids(in.ID).user("user", id); err != nil {
		return crm.User{}, err
	}
	u, err := s.db.User(ctx, in.ID, id)
	return u, notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in install %q", id, in.Slug), "user")
}

// UserByEmail returns a user of an install.
func (s *Service) UserByEmail(ctx context.Context, in crm.Install, email string) (crm.User, error) {
	norm, err := crm.NormalizeEmail(email)
	if err != nil {
		return crm.User{}, err
	}
	u, err := s.db.UserByEmail(ctx, in.ID, norm)
	return u, notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in install %q", norm, in.Slug), "user")
}

// ListUsers returns a page of the users of the principal's install,
// disabled ones too; limit 0 means DefaultLimit.
func (s *Service) ListUsers(ctx context.Context, p crm.Principal, cursor string, limit int) ([]crm.User, string, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return nil, "", err
	}
	size, after, err := pageRequest(limit, cursor)
	if err != nil {
		return nil, "", err
	}
	users, err := s.db.ListAllUsers(ctx, p.Install.ID, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	users, next := cutPage(users, size, func(u crm.User) string { return u.ID })
	return users, next, nil
}

// ListRoles returns the roles of the principal's install.
func (s *Service) ListRoles(ctx context.Context, p crm.Principal) ([]crm.Role, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return nil, err
	}
	roles, err := s.db.ListRoles(ctx, p.Install.ID)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return roles, nil
}

// Role returns one role of the principal's install.
func (s *Service) Role(ctx context.Context, p crm.Principal, name string) (crm.Role, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return crm.Role{}, err
	}
	// Every role has a name of this shape (PutRole checks it); any other
	// name is refused before it meets the roles' ASCII column.
	if err := crm.ValidateRoleName(name); err != nil {
		return crm.Role{}, err
	}
	r, err := s.db.Role(ctx, p.Install.ID, name)
	return r, notFound(err, crm.Errorf(crm.KindNotFound, "unknown_role", "no role %q in this install", name), "role")
}

// PutRole creates a custom role or changes one; built-in roles are fixed.
// The role's Add names the record types its users may add (nil: every
// type). It reports whether the role was created.
func (s *Service) PutRole(ctx context.Context, p crm.Principal, r crm.Role) (bool, error) {
	if err := s.checkWritable(ctx); err != nil {
		return false, err
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return false, err
	}
	if err := crm.ValidateRoleName(r.Name); err != nil {
		return false, err
	}
	if len(r.Description) > 255 {
		return false, crm.Invalid("invalid_description", "description: at most 255 characters")
	}
	if r.Capabilities == nil {
		r.Capabilities = []crm.Capability{}
	}
	for _, c := range r.Capabilities {
		if !slices.Contains(crm.Capabilities, c) {
			return false, crm.Invalid("invalid_capability", "capabilities: unknown capability %q; the capabilities are admin and reassign", c)
		}
	}
	slices.Sort(r.Capabilities)
	r.Capabilities = slices.Compact(r.Capabilities)
	if r.Add, err = crm.NormalizeAdd(r.Add); err != nil {
		return false, err
	}
	r.BuiltIn = false
	created := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// A role that loses the admin capability may take the install's
		// last administrator with it: counted as user changes count.
		if err := tx.LockInstallUsers(ctx, p.Install.ID); err != nil {
			return err
		}
		old, err := tx.Role(ctx, p.Install.ID, r.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			created = true
			return tx.CreateRole(ctx, p.Install.ID, r)
		case err != nil:
			return err
		case old.BuiltIn:
			return crm.Errorf(crm.KindConflict, "builtin_role", "the built-in role %q cannot be changed", r.Name)
		}
		return keepAnAdmin(ctx, tx, p.Install.ID, func() error { return tx.UpdateRole(ctx, p.Install.ID, r) })
	})
	if err == nil {
		s.invalidate(ctx, p.Install.ID, []string{cache.InstallGen(p.Install.ID)}, nil)
	}
	return created, err
}

// Settings returns the settings of the principal's install, as of now.
func (s *Service) Settings(ctx context.Context, p crm.Principal) (crm.Settings, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return crm.Settings{}, err
	}
	in, err := s.db.InstallByID(ctx, p.Install.ID)
	if err != nil {
		return crm.Settings{}, fmt.Errorf("settings: %w", err)
	}
	return in.Settings, nil
}

// SettingsChange names the settings to change; nil fields stay as they are.
type SettingsChange struct {
	AssignmentEnabled *bool
	AssignBy          *crm.AssignBy
	// Timezone is an IANA name; see crm.ValidateTimezone.
	Timezone *string
}

// UpdateSettings changes the settings of the principal's install. Like
// every change of them it voids what is cached of the install (policies,
// principals), so that the next request on every replica, and the
// plugins it calls, see the new values.
func (s *Service) UpdateSettings(ctx context.Context, p crm.Principal, c SettingsChange) (crm.Settings, error) {
	if err := s.checkWritable(ctx); err != nil {
		return crm.Settings{}, err
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return crm.Settings{}, err
	}
	var settings crm.Settings
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		in, err := tx.InstallByID(ctx, p.Install.ID)
		if err != nil {
			return err
		}
		settings = in.Settings
		if c.AssignmentEnabled != nil {
			settings.AssignmentEnabled = *c.AssignmentEnabled
		}
		if c.AssignBy != nil {
			settings.AssignBy = *c.AssignBy
		}
		if c.Timezone != nil {
			settings.Timezone = *c.Timezone
		}
		if err := settings.Validate(); err != nil {
			return err
		}
		return tx.UpdateSettings(ctx, p.Install.ID, settings)
	})
	if err == nil {
		s.invalidate(ctx, p.Install.ID, []string{cache.InstallGen(p.Install.ID)}, nil)
	}
	return settings, err
}

// TeamWithMembers is a team and who is in it.
type TeamWithMembers struct {
	crm.Team
	Members []crm.Membership
}

// ListTeams returns the teams of the principal's install.
func (s *Service) ListTeams(ctx context.Context, p crm.Principal) ([]crm.Team, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return nil, err
	}
	teams, err := s.db.ListTeams(ctx, p.Install.ID)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return teams, nil
}

// Team returns a team of the principal's install with its members.
func (s *Service) Team(ctx context.Context, p crm.Principal, id string) (TeamWithMembers, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return TeamWithMembers{}, err
	}
	if err := s.ids(p.Install.ID).team("team id", id); err != nil {
		return TeamWithMembers{}, err
	}
	t, err := s.db.Team(ctx, p.Install.ID, id)
	if err != nil {
		return TeamWithMembers{}, notFound(err, errUnknownTeam(id), "team")
	}
	members, err := s.db.TeamMembers(ctx, p.Install.ID, id)
	if err != nil {
		return TeamWithMembers{}, err
	}
	return TeamWithMembers{Team: t, Members: members}, nil
}

func errUnknownTeam(id string) error {
	return crm.Errorf(crm.KindNotFound, "unknown_team", "no team %s in this install", id)
}

// CreateTeam adds a team to the principal's install.
func (s *Service) CreateTeam(ctx context.Context, p crm.Principal, name string) (crm.Team, error) {
	if s.db.Adoption(p.Install.ID) != nil {
		return crm.Team{}, errCRMTeams
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return crm.Team{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 255 {
		return crm.Team{}, crm.Invalid("invalid_name", "name: required, at most 255 characters")
	}
	t := crm.Team{ID: crm.NewID(), InstallID: p.Install.ID, Name: name, CreatedAt: s.clock()}
	err = s.db.CreateTeam(ctx, t)
	if errors.Is(err, store.ErrDuplicate) {
		return crm.Team{}, crm.Errorf(crm.KindConflict, "team_exists", "a team named %q already exists", name)
	}
	if err != nil {
		return crm.Team{}, fmt.Errorf("create team: %w", err)
	}
	return t, nil
}

// SetTeamMembers replaces the members of a team. At most one may be marked
// primary per user and team; every member must be a user of the install.
func (s *Service) SetTeamMembers(ctx context.Context, p crm.Principal, teamID string, members []crm.Membership) (TeamWithMembers, error) {
	if err := s.checkWritable(ctx); err != nil {
		return TeamWithMembers{}, err
	}
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return TeamWithMembers{}, err
	}
	if s.db.Adoption(p.Install.ID) != nil {
		return TeamWithMembers{}, errCRMTeams
	}
	if err := crm.ValidateID("team id", teamID); err != nil {
		return TeamWithMembers{}, err
	}
	seen := map[string]bool{}
	for i := range members {
		members[i].TeamID = teamID
		if err := crm.ValidateID(fmt.Sprintf("members[%d].user_id", i), members[i].UserID); err != nil {
			return TeamWithMembers{}, err
		}
		if seen[members[i].UserID] {
			return TeamWithMembers{}, crm.Invalid("duplicate_member", "members[%d].user_id: %s is listed twice", i, members[i].UserID)
		}
		seen[members[i].UserID] = true
	}
	var team crm.Team
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if team, err = tx.Team(ctx, p.Install.ID, teamID); err != nil {
			return notFound(err, errUnknownTeam(teamID), "team")
		}
		for i, m := range members {
			if _, err := tx.User(ctx, p.Install.ID, m.UserID); err != nil {
				return notFound(err, crm.Invalid("unknown_user", "members[%d].user_id: no user %s in this install", i, m.UserID), "member")
			}
		}
		return tx.SetTeamMembers(ctx, p.Install.ID, teamID, members, s.clock())
	})
	if err != nil {
		return TeamWithMembers{}, err
	}
	// Memberships are part of every member's policy (old members' too).
	s.invalidate(ctx, p.Install.ID, []string{cache.InstallGen(p.Install.ID)}, nil)
	return TeamWithMembers{Team: team, Members: members}, nil
}

// PrincipalFor returns a user of an install as a principal, for the command
// line and set-up, which act as a user without a token.
func (s *Service) PrincipalFor(ctx context.Context, in crm.Install, u crm.User) (crm.Principal, error) {
	role, err := s.db.Role(ctx, in.ID, u.Role)
	if err != nil {
		return crm.Principal{}, fmt.Errorf("role of %s: %w", u.Email, err)
	}
	return crm.Principal{Install: in, User: u, Role: role}, nil
}

// An adopted CRM keeps its own users and teams; crmguard copies them.
var (
	errCRMUsers = crm.Errorf(crm.KindForbidden, "crm_managed", "this install's users are its CRM's: add and deactivate them in the CRM, and crmguard copies them")
	errCRMTeams = crm.Errorf(crm.KindForbidden, "crm_managed", "this install's teams are its CRM's: change them in the CRM, and crmguard copies them")
)
