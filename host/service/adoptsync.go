package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// SyncAdoptedUsers copies an adopted CRM's users, teams and memberships
// into crmguard's tables, where roles, tokens and grants refer to them by
// the CRM's ids, and voids the cached permissions of every user whose copy
// changed. The CRM decides who is active and who is an administrator;
// crmguard keeps the other roles it was given.
func (s *Service) SyncAdoptedUsers(ctx context.Context) error {
	in, m := s.db.AdoptedInstall()
	if m == nil {
		return nil
	}
	users, err := s.db.CRMUsers(ctx, m)
	if err != nil {
		return err
	}
	teams, members, err := s.db.CRMTeams(ctx, m)
	if err != nil {
		return err
	}
	var changed []string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		copies, err := tx.SyncedUsers(ctx, in)
		if err != nil {
			return err
		}
		now := s.clock()
		emails := map[string]bool{}
		live := map[string]bool{}
		for _, u := range users {
			if !fitsID(u.ID) {
				s.log.Warn("adopt: a user's id does not fit crmguard's tables; the user is left out", "id", u.ID)
				continue
			}
			live[u.ID] = true
			cp, exists := copies[u.ID]
			next := cp
			if !exists {
				next = store.SyncedUser{User: crm.User{ID: u.ID, InstallID: in, Role: crm.RoleMember, CreatedAt: now}}
			}
			next.Name = u.Name
			next.Email = syncedEmail(u, in, emails)
			next.Disabled = !u.Active
			switch {
			case u.Admin:
				next.Role = crm.RoleAdmin
			case next.Role == crm.RoleAdmin:
				next.Role = crm.RoleMember
			}
			if exists && next == cp {
				continue
			}
			err := tx.PutSyncedUser(ctx, next)
			if errors.Is(err, store.ErrDuplicate) {
				// Another copy still holds the address (two users swapped
				// theirs): this one waits under its .invalid address.
				next.Email = fallbackEmail(u.ID, in)
				err = tx.PutSyncedUser(ctx, next)
			}
			if err != nil {
				return err
			}
			changed = append(changed, u.ID)
		}
		for id, cp := range copies {
			if !live[id] && !cp.Disabled {
				// Gone from the CRM's users table: no longer a user.
				cp.Disabled = true
				if err := tx.PutSyncedUser(ctx, cp); err != nil {
					return err
				}
				changed = append(changed, id)
			}
		}
		moved, err := s.syncTeams(ctx, tx, in, teams, members, live)
		changed = append(changed, moved...)
		return err
	})
	if err != nil {
		return fmt.Errorf("adopt: copy users and teams: %w", err)
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		s.invalidateUsers(ctx, in, slices.Compact(changed)...)
		s.log.Info("adopt: users and teams copied from the CRM", "changed_users", len(changed))
	}
	return nil
}

// syncTeams copies the CRM's teams and memberships and returns the users
// whose teams changed.
func (s *Service) syncTeams(ctx context.Context, tx *store.Tx, in string, teams []crm.Team, members []crm.Membership, users map[string]bool) ([]string, error) {
	current, err := tx.ListTeams(ctx, in)
	if err != nil {
		return nil, err
	}
	had := map[string]crm.Team{}
	for _, t := range current {
		had[t.ID] = t
	}
	memberships, err := tx.InstallMemberships(ctx, in)
	if err != nil {
		return nil, err
	}
	before := map[string][]string{} // team -> users
	for _, mb := range memberships {
		before[mb.TeamID] = append(before[mb.TeamID], mb.UserID)
	}
	after := map[string][]string{}
	for _, mb := range members {
		if users[mb.UserID] {
			after[mb.TeamID] = append(after[mb.TeamID], mb.UserID)
		}
	}
	var changed []string
	keep := map[string]bool{}
	for _, t := range teams {
		keep[t.ID] = true
	}
	// Teams gone from the CRM go first: a new team may have one's name.
	for id := range had {
		if !keep[id] {
			if err := tx.DeleteSyncedTeam(ctx, in, id); err != nil {
				return nil, err
			}
			changed = append(changed, before[id]...)
		}
	}
	names := map[string]bool{}
	for _, t := range teams {
		if !fitsID(t.ID) {
			continue
		}
		t.InstallID, t.CreatedAt = in, s.clock()
		t.Name = uniqueName(t, names)
		if old, exists := had[t.ID]; !exists || old.Name != t.Name {
			err := tx.PutSyncedTeam(ctx, t)
			if errors.Is(err, store.ErrDuplicate) {
				// Another copy still has the name (two teams swapped
				// theirs): this one carries its id until the next copy.
				t.Name = t.Name + " (" + t.ID + ")"
				err = tx.PutSyncedTeam(ctx, t)
			}
			if err != nil {
				return nil, err
			}
		}
		was, now := slices.Sorted(slices.Values(before[t.ID])), slices.Sorted(slices.Values(after[t.ID]))
		if slices.Equal(was, now) {
			continue
		}
		var ms []crm.Membership
		for _, u := range now {
			ms = append(ms, crm.Membership{TeamID: t.ID, UserID: u})
		}
		if err := tx.SetTeamMembers(ctx, in, t.ID, ms, s.clock()); err != nil {
			return nil, err
		}
		changed = append(append(changed, was...), now...)
	}
	return changed, nil
}

// syncedEmail is a CRM user's e-mail address in crmguard, unique in the
// install: the CRM's own when it is one and not taken, otherwise an
// address under .invalid (RFC 2606), which no mail is ever sent to.
func syncedEmail(u store.CRMUser, installID string, taken map[string]bool) string {
	email, err := crm.NormalizeEmail(strings.TrimSpace(u.Email))
	if err != nil || taken[email] {
		email = fallbackEmail(u.ID, installID)
	}
	taken[email] = true
	return email
}

// fallbackEmail is the address of a user whose own cannot be used.
func fallbackEmail(userID, installID string) string {
	return strings.ToLower("user-" + userID + "@" + installID + ".invalid")
}

// uniqueName is a team's name, made unique in the install as crmguard's
// tables need by adding its id when another team has it.
func uniqueName(t crm.Team, taken map[string]bool) string {
	name := strings.TrimSpace(t.Name)
	if name == "" || taken[strings.ToLower(name)] {
		name = strings.TrimSpace(name + " (" + t.ID + ")")
	}
	taken[strings.ToLower(name)] = true
	return name
}

// UserChanged copies the adopted CRM's users and teams at once, when its
// service token says one of its users changed, rather than at the next
// periodic copy: a user deactivated in the CRM has lost access when the
// answer comes.
func (s *Service) UserChanged(ctx context.Context, p crm.Principal, id string) error {
	if !p.Service {
		return crm.Errorf(crm.KindForbidden, "service_token_required", "only the install's service token (the CRM's) may say that a user changed")
	}
	if err := s.ids(p.Install.ID).user("id", id); err != nil {
		return err
	}
	if in, _ := s.db.AdoptedInstall(); in != p.Install.ID {
		return crm.Errorf(crm.KindConflict, "not_adopted", "this install's users are crmguard's own, not a CRM's; nothing to copy")
	}
	if err := s.checkWritable(ctx); err != nil {
		return err
	}
	return s.SyncAdoptedUsers(ctx)
}

// RecordChanged drops every cached copy of a record, on every replica,
// after its CRM wrote it: the CRM's service token tells crmguard so. Known
// or not, the record gets the same answer, so that nothing is learnt of
// which records exist.
func (s *Service) RecordChanged(ctx context.Context, p crm.Principal, t crm.RecordType, id string) error {
	if !p.Service {
		return crm.Errorf(crm.KindForbidden, "service_token_required", "only the install's service token (the CRM's) may say that a record changed")
	}
	if err := s.ids(p.Install.ID).record("id", t, id); err != nil {
		return err
	}
	if err := s.checkWritable(ctx); err != nil {
		return err
	}
	s.invalidateRecords(ctx, p.Install.ID, crm.Ref{Type: t, ID: id})
	return nil
}
