package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
)

// AdoptedInstall is the install whose records are an adopted CRM's and
// its mapping; "" and nil when there is none.
func (db *DB) AdoptedInstall() (string, *adopt.Mapping) {
	if db.adoption == nil {
		return "", nil
	}
	return db.adoption.installID, db.adoption.m
}

// CRMUser is a user as the adopted CRM's tables say.
type CRMUser struct {
	ID, Email, Name string
	Active, Admin   bool
}

// CRMUsers reads the CRM's users.
func (q *Queries) CRMUsers(ctx context.Context, m *adopt.Mapping) ([]CRMUser, error) {
	u := m.Users
	cols := []string{adopt.Col("u", u.ID)}
	if u.Email != nil {
		cols = append(cols, adopt.Col("u", *u.Email))
	} else {
		cols = append(cols, "NULL")
	}
	for _, n := range u.Name {
		cols = append(cols, adopt.Col("u", n))
	}
	live, admin := u.Live("u"), m.IsAdmin("u")
	cols = append(cols, "CASE WHEN "+live.SQL+" THEN 1 ELSE 0 END", "CASE WHEN "+admin.SQL+" THEN 1 ELSE 0 END")
	rows, err := q.q.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+m.Table(u.Table)+" u",
		append(append([]any(nil), live.Args...), admin.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: read users of %s: %w", u.Table, err)
	}
	return collect(rows, func(scan func(...any) error) (CRMUser, error) {
		var id, email sql.NullString
		names := make([]sql.NullString, len(u.Name))
		var active, isAdmin int
		dest := []any{&id, &email}
		for i := range names {
			dest = append(dest, &names[i])
		}
		if err := scan(append(dest, &active, &isAdmin)...); err != nil {
			return CRMUser{}, err
		}
		var parts []string
		for _, n := range names {
			if s := strings.TrimSpace(n.String); s != "" {
				parts = append(parts, s)
			}
		}
		return CRMUser{ID: id.String, Email: email.String, Name: strings.Join(parts, " "), Active: active == 1, Admin: isAdmin == 1}, nil
	})
}

// CRMTeams reads the CRM's live teams and their live memberships.
func (q *Queries) CRMTeams(ctx context.Context, m *adopt.Mapping) ([]crm.Team, []crm.Membership, error) {
	t := m.Teams
	if t == nil {
		return nil, nil, nil
	}
	live := t.Live("t")
	rows, err := q.q.QueryContext(ctx, "SELECT "+adopt.Col("t", t.ID)+", COALESCE("+adopt.Col("t", t.Name)+", '') FROM "+m.Table(t.Table)+" t WHERE "+live.SQL+
		" ORDER BY "+adopt.Col("t", t.ID), live.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("store: read teams of %s: %w", t.Table, err)
	}
	teams, err := collect(rows, func(scan func(...any) error) (crm.Team, error) {
		var team crm.Team
		return team, scan(&team.ID, &team.Name)
	})
	if err != nil {
		return nil, nil, err
	}
	ml := t.LiveMember("tm")
	rows, err = q.q.QueryContext(ctx, "SELECT "+adopt.Col("tm", t.Members.Team)+", "+adopt.Col("tm", t.Members.User)+" FROM "+m.Table(t.Members.Table)+" tm WHERE "+ml.SQL+
		" AND "+adopt.Col("tm", t.Members.Team)+" IS NOT NULL AND "+adopt.Col("tm", t.Members.User)+" IS NOT NULL ORDER BY "+adopt.Col("tm", t.Members.User), ml.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("store: read memberships of %s: %w", t.Members.Table, err)
	}
	members, err := collect(rows, func(scan func(...any) error) (crm.Membership, error) {
		var mb crm.Membership
		return mb, scan(&mb.TeamID, &mb.UserID)
	})
	return teams, members, err
}

// SyncedUser is a copy of a CRM user in crmguard's users table; it is
// disabled (User.Disabled) while the CRM says the user is inactive.
type SyncedUser struct {
	crm.User
}

// SyncedUsers returns an install's users, disabled ones too, by id.
func (q *Queries) SyncedUsers(ctx context.Context, installID string) (map[string]SyncedUser, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+userColumnsU+" FROM crmguard_users u WHERE u.install_id = ?", installID)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	users, err := collect(rows, func(scan func(...any) error) (SyncedUser, error) {
		u, err := scanUser(scan)
		return SyncedUser{User: u}, err
	})
	out := make(map[string]SyncedUser, len(users))
	for _, u := range users {
		out[u.ID] = u
	}
	return out, err
}

// PutSyncedUser writes a copy of a CRM user, new or changed. ErrDuplicate
// means another user's copy holds the e-mail address.
func (q *Queries) PutSyncedUser(ctx context.Context, u SyncedUser) error {
	err := q.putCopy(ctx,
		func() (sql.Result, error) {
			return q.q.ExecContext(ctx, "UPDATE crmguard_users SET email = ?, name = ?, role = ?, disabled = ? WHERE install_id = ? AND id = ?",
				u.Email, u.Name, u.Role, u.Disabled, u.InstallID, u.ID)
		},
		func() error {
			_, err := q.q.ExecContext(ctx,
				"INSERT INTO crmguard_users (id, install_id, email, name, role, manager_id, created_at, disabled) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
				u.ID, u.InstallID, u.Email, u.Name, u.Role, millis(u.CreatedAt), u.Disabled)
			return err
		})
	if err != nil {
		return fmt.Errorf("store: copy user %s: %w", u.ID, err)
	}
	return nil
}

// PutSyncedTeam writes a copy of a CRM team, new or renamed. ErrDuplicate
// means another team's copy has the name.
func (q *Queries) PutSyncedTeam(ctx context.Context, t crm.Team) error {
	err := q.putCopy(ctx,
		func() (sql.Result, error) {
			return q.q.ExecContext(ctx, "UPDATE crmguard_teams SET name = ? WHERE install_id = ? AND id = ?", t.Name, t.InstallID, t.ID)
		},
		func() error {
			_, err := q.q.ExecContext(ctx, "INSERT INTO crmguard_teams ("+teamColumns+") VALUES (?, ?, ?, ?)", t.ID, t.InstallID, t.Name, millis(t.CreatedAt))
			return err
		})
	if err != nil {
		return fmt.Errorf("store: copy team %s: %w", t.ID, err)
	}
	return nil
}

// putCopy updates a copied row by its id, or inserts it when there is
// none. Every replica copies, so an insert can find that another one came
// first: the row is then updated after all. A conflict on any other key
// (an e-mail, a name) is ErrDuplicate, and no other row is touched.
func (q *Queries) putCopy(ctx context.Context, update func() (sql.Result, error), insert func() error) error {
	for attempt := 0; ; attempt++ {
		res, err := update()
		if err != nil {
			return translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		err = translate(insert())
		if !errors.Is(err, ErrDuplicate) || attempt > 0 {
			return err
		}
	}
}

// DeleteSyncedTeam removes the copy of a team the CRM no longer has, with
// its memberships and the grants given to it.
func (q *Queries) DeleteSyncedTeam(ctx context.Context, installID, teamID string) error {
	for _, stmt := range []string{
		"DELETE FROM crmguard_team_members WHERE install_id = ? AND team_id = ?",
		"DELETE FROM crmguard_grants WHERE install_id = ? AND subject_type = 'team' AND subject_id = ?",
		"DELETE FROM crmguard_teams WHERE install_id = ? AND id = ?",
	} {
		if _, err := q.q.ExecContext(ctx, stmt, installID, teamID); err != nil {
			return fmt.Errorf("store: delete team %s: %w", teamID, translate(err))
		}
	}
	return nil
}
