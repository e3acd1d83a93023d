package service

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// UserChange names what to change of a user; nil fields stay as they are.
type UserChange struct {
	Role *string
	// ManagerID is the user's new manager; "" means none.
	ManagerID *string
	Name      *string
	Disabled  *bool
}

// errLastAdmin refuses a change that would leave an install that has an
// enabled administrator without one: nobody could then change its users,
// roles or settings.
var errLastAdmin = crm.Errorf(crm.KindConflict, "last_admin",
	"this change would leave the install without an enabled administrator; make another user an admin first")

func errUnknownUser(id string) error {
	return crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in this install", crm.Truncate(id, 40))
}

// User returns a user of the principal's install, disabled or not.
func (s *Service) User(ctx context.Context, p crm.Principal, id string) (crm.User, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return crm.User{}, err
	}
	if err := s.ids(p.Install.ID).user("id", id); err != nil {
		return crm.User{}, err
	}
	u, err := s.db.AnyUser(ctx, p.Install.ID, id)
	return u, notFound(err, errUnknownUser(id), "user")
}

// FindUser returns a user of an install by id or e-mail address, disabled
// or not, for the command line, which names users either way.
func (s *Service) FindUser(ctx context.Context, in crm.Install, idOrEmail string) (crm.User, error) {
	if strings.Contains(idOrEmail, "@") {
		email, err := crm.NormalizeEmail(idOrEmail)
		if err != nil {
			return crm.User{}, err
		}
		u, err := s.db.AnyUserByEmail(ctx, in.ID, email)
		return u, notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in install %q", email, in.Slug), "user")
	}
	if err := s.ids(in.ID).user("user", idOrEmail); err != nil {
		return crm.User{}, err
	}
	u, err := s.db.AnyUser(ctx, in.ID, idOrEmail)
	return u, notFound(err, crm.Errorf(crm.KindNotFound, "unknown_user", "no user %s in install %q", idOrEmail, in.Slug), "user")
}

// UpdateUser changes the role, manager, name or disabled state of a user
// of the principal's install; only administrators may. A change that
// changes nothing is no change: it is neither audited nor announced.
func (s *Service) UpdateUser(ctx context.Context, p crm.Principal, id string, c UserChange) (crm.User, error) {
	p, err := s.verifyAdmin(ctx, p)
	if err != nil {
		return crm.User{}, err
	}
	return s.changeUser(ctx, p.Install, p.User.ID, id, c)
}

// ChangeUser is UpdateUser without an access check, for the command line,
// which acts for whoever runs the host: its audit entries name no actor.
func (s *Service) ChangeUser(ctx context.Context, in crm.Install, id string, c UserChange) (crm.User, error) {
	return s.changeUser(ctx, in, "", id, c)
}

func (s *Service) changeUser(ctx context.Context, in crm.Install, actorID, id string, c UserChange) (crm.User, error) {
	if s.db.Adoption(in.ID) != nil {
		return crm.User{}, errCRMUsers
	}
	if err := s.checkWritable(ctx); err != nil {
		return crm.User{}, err
	}
	if err := crm.ValidateID("id", id); err != nil {
		return crm.User{}, err
	}
	if c.Role != nil {
		if err := crm.ValidateRoleName(*c.Role); err != nil {
			return crm.User{}, err
		}
	}
	if c.Name != nil {
		name, err := userName(*c.Name)
		if err != nil {
			return crm.User{}, err
		}
		c.Name = &name
	}
	if c.ManagerID != nil && *c.ManagerID != "" {
		if err := crm.ValidateID("manager_id", *c.ManagerID); err != nil {
			return crm.User{}, err
		}
	}
	var (
		old, u crm.User
		voided []string // whose cached policies the change voids
	)
	// Run again if InnoDB picks it as a deadlock's victim (a record written
	// for the user at the same moment may hold what it needs).
	err := s.db.InRetryableTx(ctx, func(tx *store.Tx) error {
		// First, before anything is read: one change of the install's users
		// at a time, so that what is counted below is still true at commit.
		if err := tx.LockInstallUsers(ctx, in.ID); err != nil {
			return notFound(err, crm.Errorf(crm.KindNotFound, "unknown_install", "no install %s", in.ID), "install")
		}
		if err := stillAdmin(ctx, tx, in, actorID); err != nil {
			return err
		}
		var err error
		if old, err = tx.AnyUser(ctx, in.ID, id); err != nil {
			return notFound(err, errUnknownUser(id), "user")
		}
		u, voided = old, nil
		if c.Name != nil {
			u.Name = *c.Name
		}
		if c.Role != nil {
			u.Role = *c.Role
		}
		if c.ManagerID != nil {
			u.ManagerID = *c.ManagerID
		}
		if c.Disabled != nil {
			u.Disabled = *c.Disabled
		}
		if u == old {
			return nil
		}
		if u.Role != old.Role {
			if _, err := tx.Role(ctx, in.ID, u.Role); err != nil {
				return notFound(err, crm.Invalid("unknown_role", "role: no role %q in this install", u.Role), "role")
			}
		}
		if u.ManagerID != old.ManagerID {
			links, err := tx.ManagerLinks(ctx, in.ID)
			if err != nil {
				return err
			}
			if u.ManagerID != "" {
				if err := checkManager(ctx, &tx.Queries, links, u); err != nil {
					return err
				}
			}
			// The reports of every manager above the user, before and
			// after, change.
			voided = append(chainOf(links, old.ManagerID), chainOf(links, u.ManagerID)...)
		}
		if err := keepAnAdmin(ctx, tx, in.ID, func() error { return tx.UpdateUser(ctx, u) }); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, crm.AuditEvent{ID: crm.NewID(), InstallID: in.ID, At: s.clock(), ActorID: actorID,
			Action: crm.AuditUserUpdate, Detail: userChangeDetail(old, u)})
	})
	if err != nil {
		return crm.User{}, err
	}
	if u != old {
		s.invalidateUserChange(ctx, in.ID, append([]string{u.ID}, voided...)...)
	}
	return u, nil
}

// stillAdmin checks, under LockInstallUsers, that the admin who asked for a
// change of users (none: the command line) still is one: another admin may
// have demoted them since their request began.
func stillAdmin(ctx context.Context, tx *store.Tx, in crm.Install, actorID string) error {
	if actorID == "" {
		return nil
	}
	actor, err := tx.AnyUser(ctx, in.ID, actorID)
	if err != nil {
		return notFound(err, errUserDisabled, "actor")
	}
	if actor.Disabled {
		return errUserDisabled
	}
	role, err := tx.Role(ctx, in.ID, actor.Role)
	if err != nil {
		return fmt.Errorf("role of %s: %w", actorID, err)
	}
	return access.CheckAdmin(crm.Principal{Install: in, User: actor, Role: role})
}

// keepAnAdmin makes a change within a transaction that holds
// LockInstallUsers, and refuses it if it took the install's last enabled
// administrator away.
func keepAnAdmin(ctx context.Context, tx *store.Tx, installID string, change func() error) error {
	before, err := tx.CountEnabledAdmins(ctx, installID)
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := tx.CountEnabledAdmins(ctx, installID)
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return errLastAdmin
	}
	return nil
}

// checkManager checks u's new manager: an enabled user of the install
// who does not report to u, directly or not, since the link would close
// a loop.
func checkManager(ctx context.Context, q *store.Queries, links crm.ManagerLinks, u crm.User) error {
	if err := checkAssignable(ctx, q, u.InstallID, "manager_id", u.ManagerID); err != nil {
		return err
	}
	if u.ManagerID == u.ID {
		return crm.Invalid("invalid_manager", "manager_id: a user cannot be their own manager")
	}
	// Up from the new manager: existing links form no loop, so the walk
	// ends, however deep.
	seen := map[string]bool{}
	for m := u.ManagerID; m != "" && !seen[m]; m = links[m] {
		if m == u.ID {
			return crm.Invalid("invalid_manager", "manager_id: %s reports to this user, directly or not; a user cannot be managed by one of their reports", u.ManagerID)
		}
		seen[m] = true
	}
	return nil
}

// checkAssignable checks that a user may be given something new — a
// record, reports: an enabled user of the install. field names the input.
func checkAssignable(ctx context.Context, q *store.Queries, installID, field, userID string) error {
	u, err := q.AnyUser(ctx, installID, userID)
	if err != nil {
		return notFound(err, crm.Invalid("unknown_user", "%s: no user %s in this install", field, userID), field)
	}
	if u.Disabled {
		return crm.Invalid("user_disabled", "%s: user %s is disabled; enable them first, or choose another user", field, userID)
	}
	return nil
}

// chainOf is a manager and everyone above them ("": nobody).
func chainOf(links crm.ManagerLinks, manager string) []string {
	if manager == "" {
		return nil
	}
	return append([]string{manager}, links.Managers(manager)...)
}

// userChangeDetail is the audit detail of a change of a user: each field
// that changed, from what to what.
func userChangeDetail(old, u crm.User) map[string]any {
	detail := map[string]any{"user_id": u.ID}
	change := func(field string, from, to any) { detail[field] = map[string]any{"from": from, "to": to} }
	if old.Role != u.Role {
		change("role", old.Role, u.Role)
	}
	if old.ManagerID != u.ManagerID {
		change("manager_id", nullable(old.ManagerID), nullable(u.ManagerID))
	}
	if old.Name != u.Name {
		change("name", old.Name, u.Name)
	}
	if old.Disabled != u.Disabled {
		change("disabled", old.Disabled, u.Disabled)
	}
	return detail
}

// invalidateUserChange voids, after a user was added or changed, the
// cached principals, tokens and policies of the users named, and every
// policy of the install: plugins derive policies from who has which role
// and who reports to whom (a role's records are those of its users), so
// the change may concern anyone. Naming the users too keeps their entries
// void should the install's counter alone be missed.
func (s *Service) invalidateUserChange(ctx context.Context, installID string, userIDs ...string) {
	gens := []string{cache.InstallGen(installID)}
	var keys []string
	for _, u := range userIDs {
		gens = append(gens, cache.UserGen(installID, u))
		keys = append(keys, policyKey(installID, u))
	}
	s.invalidate(ctx, installID, gens, keys)
}

// userName checks a user's display name and returns it trimmed.
func userName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", crm.Invalid("invalid_name", "name: required, the user's display name")
	case !utf8.ValidString(name):
		return "", crm.Invalid("invalid_name", "name: must be UTF-8 text")
	case utf8.RuneCountInString(name) > 255:
		return "", crm.Invalid("invalid_name", "name: at most 255 characters, got %d", utf8.RuneCountInString(name))
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", crm.Invalid("invalid_name", "name: control characters (line breaks, tabs) are not allowed")
	}
	return name, nil
}
