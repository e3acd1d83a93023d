package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/service"
)

type notificationJSON struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Source    string    `json:"source"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	State     string    `json:"state"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// listNotifications answers GET /v1/notifications: the messages plugins
// sent the caller, newest first — the outbox when no mail server is
// configured, a record of what was sent when one is. Admins may ask for
// one user's (?user=ID) or everyone's (?user=all).
func (s *server) listNotifications(c *gin.Context) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	q := service.NotificationQuery{UserID: c.Query("user"), Limit: limit, Cursor: c.Query("cursor")}
	if q.UserID == "all" {
		q.UserID, q.All = "", true
	}
	notes, next, err := s.svc.Notifications(c.Request.Context(), principal(c), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]notificationJSON, len(notes))
	for i, n := range notes {
		items[i] = notificationJSON{ID: n.ID, UserID: n.UserID, Source: n.Source, Subject: n.Subject, Body: n.Body,
			State: n.State, Error: n.Error, CreatedAt: n.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}
