package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	ManagerID *string   `json:"manager_id"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func toUserJSON(u crm.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, ManagerID: nullableID(u.ManagerID), Disabled: u.Disabled, CreatedAt: utc(u.CreatedAt)}
}

type roleJSON struct {
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	Capabilities []crm.Capability `json:"capabilities"`
	// Add is null when the role may add every record type.
	Add     []crm.RecordType `json:"add"`
	BuiltIn bool             `json:"builtin"`
}

func toRoleJSON(r crm.Role) roleJSON {
	return roleJSON{Name: r.Name, Description: r.Description, Capabilities: r.Capabilities, Add: r.Add, BuiltIn: r.BuiltIn}
}

type installJSON struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (s *server) me(c *gin.Context) {
	p, err := s.svc.Me(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	// The types the caller may add now, by their policy: where a client
	// offers "New".
	mayAdd, err := s.svc.MayAdd(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"user":    toUserJSON(p.User),
		"role":    toRoleJSON(p.Role),
		"install": installJSON{ID: p.Install.ID, Slug: p.Install.Slug, Name: p.Install.Name},
		"may_add": mayAdd,
	})
}

func (s *server) listUsers(c *gin.Context) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	users, next, err := s.svc.ListUsers(c.Request.Context(), principal(c), c.Query("cursor"), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]userJSON, len(users))
	for i, u := range users {
		items[i] = toUserJSON(u)
	}
	c.JSON(http.StatusOK, pageJSON[userJSON]{Items: items, NextCursor: next})
}

func (s *server) createUser(c *gin.Context) {
	var body struct {
		Email     string  `json:"email"`
		Name      string  `json:"name"`
		Role      string  `json:"role"`
		ManagerID *string `json:"manager_id"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.svc.CreateUser(c.Request.Context(), principal(c), service.NewUser{
		Email: body.Email, Name: body.Name, Role: body.Role, ManagerID: optionalID(body.ManagerID),
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toUserJSON(u))
}

func (s *server) listRoles(c *gin.Context) {
	roles, err := s.svc.ListRoles(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]roleJSON, len(roles))
	for i, r := range roles {
		items[i] = toRoleJSON(r)
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *server) getRole(c *gin.Context) {
	r, err := s.svc.Role(c.Request.Context(), principal(c), c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toRoleJSON(r))
}

func (s *server) putRole(c *gin.Context) {
	var body struct {
		Description  string           `json:"description"`
		Capabilities []crm.Capability `json:"capabilities"`
		// Add absent or null: every record type; []: none.
		Add []crm.RecordType `json:"add"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	p := principal(c)
	created, err := s.svc.PutRole(c.Request.Context(), p, crm.Role{Name: c.Param("name"), Description: body.Description, Capabilities: body.Capabilities, Add: body.Add})
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.svc.Role(c.Request.Context(), p, c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, toRoleJSON(r))
}

type teamJSON struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	CreatedAt time.Time        `json:"created_at"`
	Members   []membershipJSON `json:"members,omitempty"`
}

type membershipJSON struct {
	UserID  string `json:"user_id"`
	Primary bool   `json:"primary"`
}

func toTeamJSON(t crm.Team, members []crm.Membership) teamJSON {
	out := teamJSON{ID: t.ID, Name: t.Name, CreatedAt: utc(t.CreatedAt)}
	if members != nil {
		out.Members = make([]membershipJSON, len(members))
		for i, m := range members {
			out.Members[i] = membershipJSON{UserID: m.UserID, Primary: m.Primary}
		}
	}
	return out
}

func (s *server) listTeams(c *gin.Context) {
	teams, err := s.svc.ListTeams(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]teamJSON, len(teams))
	for i, t := range teams {
		items[i] = toTeamJSON(t, nil)
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *server) createTeam(c *gin.Context) {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.svc.CreateTeam(c.Request.Context(), principal(c), body.Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toTeamJSON(t, nil))
}

func (s *server) getTeam(c *gin.Context) {
	t, err := s.svc.Team(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toTeamJSON(t.Team, nonNil(t.Members)))
}

func (s *server) putTeamMembers(c *gin.Context) {
	var body struct {
		Members []membershipJSON `json:"members"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	if body.Members == nil {
		s.fail(c, crm.Invalid("invalid_body", `members: required, a list like [{"user_id": "...", "primary": true}]; [] empties the team`))
		return
	}
	members := make([]crm.Membership, len(body.Members))
	for i, m := range body.Members {
		members[i] = crm.Membership{UserID: m.UserID, Primary: m.Primary}
	}
	t, err := s.svc.SetTeamMembers(c.Request.Context(), principal(c), c.Param("id"), members)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toTeamJSON(t.Team, nonNil(t.Members)))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *server) getSettings(c *gin.Context) {
	settings, err := s.svc.Settings(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, settings)
}

func (s *server) putSettings(c *gin.Context) {
	change, err := decodeSettingsChange(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	settings, err := s.svc.UpdateSettings(c.Request.Context(), principal(c), change)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, settings)
}
