package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
)

// The operator's view of the outbox: the after-write events that were not
// delivered (the dead letters), and their replay.

type deadLetterJSON struct {
	ID        string    `json:"id"`
	Install   string    `json:"install"`
	Plugin    string    `json:"plugin"`
	Operation *string   `json:"operation"` // null: the event could not be read
	Record    *refJSON  `json:"record"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	WrittenAt time.Time `json:"written_at"`
	DiedAt    time.Time `json:"died_at"`
	// Event is the event as it was kept, on GET of one letter only: JSON
	// when it is, a string when it could not be read as JSON.
	Event any `json:"event,omitempty"`
}

func toDeadLetterJSON(d store.DeadLetter) deadLetterJSON {
	out := deadLetterJSON{ID: d.ID, Install: d.InstallSlug, Plugin: d.PluginID, Attempts: d.Attempts, LastError: d.LastError,
		WrittenAt: utc(d.CreatedAt), DiedAt: utc(d.DiedAt)}
	if d.Operation != "" {
		out.Operation = &d.Operation
	}
	if d.RecordID != "" {
		out.Record = &refJSON{Type: crm.RecordType(d.RecordType), ID: d.RecordID}
	}
	return out
}

// listDeadLetters answers GET /v1/admin/outbox/dead-letters?install=SLUG
// &plugin=ID&limit=&cursor=: the dead letters, in the order their events
// were written, without the events.
func (s *server) listDeadLetters(c *gin.Context) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	q := service.DeadLetterQuery{DeadLetterFilter: service.DeadLetterFilter{Install: c.Query("install"), Plugin: c.Query("plugin")},
		Limit: limit, Cursor: c.Query("cursor")}
	letters, next, err := s.svc.DeadLetters(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]deadLetterJSON, len(letters))
	for i, d := range letters {
		items[i] = toDeadLetterJSON(d)
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}

// getDeadLetter answers GET /v1/admin/outbox/dead-letters/{id}: one dead
// letter with its event.
func (s *server) getDeadLetter(c *gin.Context) {
	d, err := s.svc.DeadLetter(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	out := toDeadLetterJSON(d)
	out.Event = string(d.Event)
	if json.Valid(d.Event) {
		out.Event = json.RawMessage(d.Event)
	}
	c.JSON(http.StatusOK, out)
}

type replayedJSON struct {
	Replayed int `json:"replayed"`
}

// replayDeadLetter answers POST /v1/admin/outbox/dead-letters/{id}/replay:
// the event goes back to the outbox, due now, with a fresh count of
// attempts.
func (s *server) replayDeadLetter(c *gin.Context) {
	if err := s.svc.ReplayDeadLetters(c.Request.Context(), []string{c.Param("id")}); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, replayedJSON{Replayed: 1})
}

// replayRequest names the dead letters to replay: by id (all or none), or
// every one of a filter.
type replayRequest struct {
	IDs     []string `json:"ids"`
	All     bool     `json:"all"`
	Install string   `json:"install"`
	Plugin  string   `json:"plugin"`
}

// replayDeadLetters answers POST /v1/admin/outbox/dead-letters/replay with
// {"ids":[…]} (all of them, or none when one is unknown: 404) or
// {"all":true,"install":SLUG,"plugin":ID} (every one selected, install and
// plugin optional).
func (s *server) replayDeadLetters(c *gin.Context) {
	var req replayRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	switch {
	case req.All && len(req.IDs) == 0:
		n, err := s.svc.ReplayAllDeadLetters(ctx, service.DeadLetterFilter{Install: req.Install, Plugin: req.Plugin})
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, replayedJSON{Replayed: n})
	case !req.All && req.Install == "" && req.Plugin == "":
		if err := s.svc.ReplayDeadLetters(ctx, req.IDs); err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, replayedJSON{Replayed: len(req.IDs)})
	default:
		s.fail(c, crm.Invalid("invalid_replay", `name the dead letters to replay with "ids", or replay every one with "all": true, narrowed by "install" and "plugin"; not both`))
	}
}
