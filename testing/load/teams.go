package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

// The users whose views the teams scenarios measure.
const (
	teamsOne   = "team-1"     // a member of one team
	teamsThree = "teams-3"    // a member of three teams
	teamsCross = "cross-team" // a cross-team role: every team
)

var teamScopes = []string{teamsOne, teamsThree, teamsCross}

// teamUserEmails are the users of the teams scenarios, by scope.
var teamUserEmails = map[string]string{teamsOne: "team-1@load.test", teamsThree: "teams-3@load.test", teamsCross: "cross-team@load.test"}

// The roles of the teams scenarios' users.
const (
	roleTeamMember   = "team-member"
	roleRegionalLead = "regional-lead"
)

// teamsSettings make regional leads see every team. So do the seeded
// members, whose tokens the default scenarios use: those measure what they
// measure without the plugin, and the team members measure it.
func teamsSettings() map[string]any {
	return map[string]any{"cross_team_roles": []string{crm.RoleAdmin, crm.RoleMember, roleRegionalLead}}
}

// minTeams is the fewest seeded teams the teams scenarios need.
const minTeams = 3

// prepareTeams places the users of the teams scenarios in the seeded
// teams: the one-team member and the users of strict-ownership's
// scenarios (when they exist) in the first team, the three-team member in
// the first three; the sparse user's records go to the first team. It
// runs every time, so that a later run with both plugins finds
// strict-ownership's users in a team. It returns the first team's id.
func (f *fixture) prepareTeams(ctx context.Context, svc *service.Service, o options) (string, error) {
	admin, err := svc.UserByEmail(ctx, f.install, adminEmail)
	if err != nil {
		return "", err
	}
	p, err := svc.PrincipalFor(ctx, f.install, admin)
	if err != nil {
		return "", err
	}
	for _, r := range []crm.Role{{Name: roleTeamMember, Description: "Member of a team"}, {Name: roleRegionalLead, Description: "Sees every team"}} {
		r.Capabilities = []crm.Capability{}
		if _, err := svc.PutRole(ctx, p, r); err != nil {
			return "", err
		}
	}
	users := map[string]crm.User{}
	for _, scope := range teamScopes {
		role := roleTeamMember
		if scope == teamsCross {
			role = roleRegionalLead
		}
		u, err := svc.UserByEmail(ctx, f.install, teamUserEmails[scope])
		if crm.KindOf(err) == crm.KindNotFound {
			u, err = svc.AddUser(ctx, f.install, service.NewUser{Email: teamUserEmails[scope], Role: role})
		}
		if err != nil {
			return "", err
		}
		users[scope] = u
	}
	teams, err := svc.ListTeams(ctx, p)
	if err != nil {
		return "", err
	}
	if len(teams) < minTeams {
		return "", fmt.Errorf("-plugins teams needs %d seeded teams or more, the install has %d", minTeams, len(teams))
	}
	slices.SortFunc(teams, func(a, b crm.Team) int { return strings.Compare(a.Name, b.Name) })
	first := []crm.Membership{{UserID: users[teamsOne].ID}, {UserID: users[teamsThree].ID}}
	for _, mail := range []string{sparseEmail, "rep-1pct@load.test", "rep-50pct@load.test", "manager@load.test", delegateEmail} {
		if u, err := svc.UserByEmail(ctx, f.install, mail); err == nil {
			first = append(first, crm.Membership{UserID: u.ID})
		}
	}
	for i, members := range [][]crm.Membership{first, {{UserID: users[teamsThree].ID}}, {{UserID: users[teamsThree].ID}}} {
		if _, err := svc.SetTeamMembers(ctx, p, teams[i].ID, members); err != nil {
			return "", err
		}
	}
	// The sparse user owns too few records for a fair share of them to be
	// in the first team on a small seed: all of them are moved there, on
	// the table directly (the host, and with it the plugins' write hooks,
	// is not running yet).
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE crmguard_records SET team_id = ? WHERE install_id = ? AND owner_id = (SELECT id FROM crmguard_users WHERE install_id = ? AND email = ?)",
		teams[0].ID, f.install.ID, f.install.ID, sparseEmail); err != nil {
		return "", err
	}
	return teams[0].ID, nil
}

// teamTokens issues tokens to the users of the teams scenarios.
func (f *fixture) teamTokens(ctx context.Context, svc *service.Service) error {
	f.teamUsers = map[string]tokenUser{}
	for _, scope := range teamScopes {
		u, err := svc.UserByEmail(ctx, f.install, teamUserEmails[scope])
		if err != nil {
			return err
		}
		tok, err := svc.ReplaceTokens(ctx, u, "load")
		if err != nil {
			return err
		}
		f.teamUsers[scope] = tokenUser{id: u.ID, token: tok}
	}
	return nil
}

// teamScenarios are the scenarios of -plugins teams: lists (half of them
// later pages) of each team user, and their searches.
func teamScenarios() map[string]request {
	out := map[string]request{}
	for _, scope := range teamScopes {
		out["list:"+scope] = func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
			return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50" + f.laterPage(rng), f.teamUsers[scope].token, nil, 0
		}
	}
	out["search:teams"] = func(rng *rand.Rand, f *fixture, _ options) (string, string, string, []byte, int) {
		u := f.teamUsers[teamScopes[rng.IntN(len(teamScopes))]]
		return "GET", "/v1/records/" + string(crm.RecordTypes[rng.IntN(len(crm.RecordTypes))]) + "?limit=50&q=" + words[rng.IntN(len(words))], u.token, nil, 0
	}
	return out
}

var teamScenarioNames = []string{"list:" + teamsOne, "list:" + teamsThree, "list:" + teamsCross, "search:teams"}
