package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/sdk"
)

// checkJSON is one question of POST /v1/authz/check.
type checkJSON struct {
	UserID string         `json:"user_id"`
	Action sdk.Action     `json:"action"`
	Type   sdk.RecordType `json:"type"`
	ID     string         `json:"id"`
}

type checkResultJSON struct {
	Allowed bool           `json:"allowed"`
	Reason  *access.Reason `json:"reason,omitempty"`
}

func (s *server) authzCheck(c *gin.Context) {
	var body struct {
		Checks  []checkJSON `json:"checks"`
		Explain bool        `json:"explain"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	checks := make([]service.CheckRequest, len(body.Checks))
	for i, ch := range body.Checks {
		checks[i] = service.CheckRequest{UserID: ch.UserID, Action: ch.Action, Type: ch.Type, ID: ch.ID}
	}
	results, err := s.svc.Check(c.Request.Context(), principal(c), checks, body.Explain)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]checkResultJSON, len(results))
	for i, r := range results {
		out[i] = checkResultJSON{Allowed: r.Allowed, Reason: r.Reason}
	}
	c.JSON(http.StatusOK, gin.H{"results": out})
}

func (s *server) authzFilter(c *gin.Context) {
	var body struct {
		UserID string         `json:"user_id"`
		Action sdk.Action     `json:"action"`
		Type   sdk.RecordType `json:"type"`
		// Alias names the table in the caller's query (adoption mode).
		Alias string `json:"alias"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.svc.Filter(c.Request.Context(), principal(c), body.UserID, body.Action, body.Type, body.Alias)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := gin.H{"kind": f.Kind, "condition": f.Condition}
	if f.Kind == access.FilterConditional {
		branches := make([]gin.H, len(f.Branches))
		for i, b := range f.Branches {
			branches[i] = gin.H{"where": b.SQL, "args": b.Args}
		}
		out["sql"] = gin.H{"where": f.SQL, "args": f.Args, "branches": branches}
	}
	c.JSON(http.StatusOK, out)
}

// usersOnly keeps service tokens to the decision API: they act for an
// application, not for a person.
func usersOnly(c *gin.Context) {
	if principal(c).Service {
		writeError(c, http.StatusForbidden, "service_token", "a service token may only use /v1/authz; use a user's token here")
		return
	}
	c.Next()
}
