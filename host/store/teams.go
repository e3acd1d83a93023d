package store

import (
	"context"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/crm"
)

const teamColumns = "id, install_id, name, created_at"

// CreateTeam stores a new team; ErrDuplicate if the name is taken.
func (q *Queries) CreateTeam(ctx context.Context, t crm.Team) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_teams ("+teamColumns+") VALUES (?, ?, ?, ?)",
		t.ID, t.InstallID, t.Name, millis(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create team %q: %w", t.Name, translate(err))
	}
	return nil
}

// Team returns a team of an install.
func (q *Queries) Team(ctx context.Context, installID, id string) (crm.Team, error) {
	row := q.q.QueryRowContext(ctx,
		"SELECT "+teamColumns+" FROM crmguard_teams WHERE install_id = ? AND id = ?", installID, id)
	t, err := scanTeam(row.Scan)
	if err != nil {
		return crm.Team{}, fmt.Errorf("store: team: %w", translate(err))
	}
	return t, nil
}

// ListTeams returns an install's teams by name.
func (q *Queries) ListTeams(ctx context.Context, installID string) ([]crm.Team, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+teamColumns+" FROM crmguard_teams WHERE install_id = ? ORDER BY name, id", installID)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	return collect(rows, scanTeam)
}

func scanTeam(scan func(...any) error) (crm.Team, error) {
	var (
		t       crm.Team
		created int64
	)
	if err := scan(&t.ID, &t.InstallID, &t.Name, &created); err != nil {
		return crm.Team{}, err
	}
	t.CreatedAt = fromMillis(created)
	return t, nil
}

// TeamMembers returns the memberships of a team.
func (q *Queries) TeamMembers(ctx context.Context, installID, teamID string) ([]crm.Membership, error) {
	return q.memberships(ctx, "install_id = ? AND team_id = ?", installID, teamID)
}

// UserTeams returns the memberships of a user, their primary team first:
// the one marked primary, else the one they joined first.
func (q *Queries) UserTeams(ctx context.Context, installID, userID string) ([]crm.Membership, error) {
	return q.memberships(ctx, "install_id = ? AND user_id = ?", installID, userID)
}

// memberships lists memberships primary first, then in the order they
// were made, so that each user's first is their primary team.
func (q *Queries) memberships(ctx context.Context, where string, args ...any) ([]crm.Membership, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT team_id, user_id, is_primary FROM crmguard_team_members WHERE "+where+" ORDER BY is_primary DESC, created_at, team_id, user_id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: memberships: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (crm.Membership, error) {
		var m crm.Membership
		err := scan(&m.TeamID, &m.UserID, &m.Primary)
		return m, err
	})
}

// SetTeamMembers replaces a team's members. Members who stay keep the time
// they joined (the first team a user joined is their primary one unless
// another is marked). Run it in a transaction so the team is never seen
// half-changed.
func (q *Queries) SetTeamMembers(ctx context.Context, installID, teamID string, members []crm.Membership, at time.Time) error {
	rows, err := q.q.QueryContext(ctx, "SELECT user_id, created_at FROM crmguard_team_members WHERE install_id = ? AND team_id = ?", installID, teamID)
	if err != nil {
		return fmt.Errorf("store: team members: %w", err)
	}
	joinedAt, err := collectMap[string, int64](rows)
	if err != nil {
		return err
	}
	if _, err := q.q.ExecContext(ctx,
		"DELETE FROM crmguard_team_members WHERE install_id = ? AND team_id = ?", installID, teamID); err != nil {
		return fmt.Errorf("store: clear team members: %w", err)
	}
	for _, m := range members {
		since, ok := joinedAt[m.UserID]
		if !ok {
			since = millis(at)
		}
		_, err := q.q.ExecContext(ctx,
			"INSERT INTO crmguard_team_members (install_id, team_id, user_id, is_primary, created_at) VALUES (?, ?, ?, ?, ?)",
			installID, teamID, m.UserID, m.Primary, since)
		if err != nil {
			return fmt.Errorf("store: add team member %s: %w", m.UserID, translate(err))
		}
	}
	return nil
}

// InstallMemberships returns every team membership of an install.
func (q *Queries) InstallMemberships(ctx context.Context, installID string) ([]crm.Membership, error) {
	return q.memberships(ctx, "install_id = ?", installID)
}
