package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// statusOf maps each kind of error to its HTTP status, in one place.
var statusOf = map[crm.Kind]int{
	crm.KindInvalid:         http.StatusBadRequest,
	crm.KindUnauthenticated: http.StatusUnauthorized,
	crm.KindForbidden:       http.StatusForbidden,
	crm.KindNotFound:        http.StatusNotFound,
	crm.KindConflict:        http.StatusConflict,
	crm.KindPrecondition:    http.StatusPreconditionFailed,
	crm.KindTooLarge:        http.StatusRequestEntityTooLarge,
	crm.KindRateLimited:     http.StatusTooManyRequests,
	crm.KindUnavailable:     http.StatusServiceUnavailable,
	crm.KindPlugin:          http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusClientClosed is logged for requests whose client left before the
// answer (as nginx does); it is never seen by a client.
const statusClientClosed = 499

// writeError aborts the request with a JSON error.
func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{errorDetail{Code: code, Message: message}})
}

// fail answers err: an error meant for the caller as it is, an outage as
// 503, anything else as 500 with a request id and the details only in the
// log.
func (s *server) fail(c *gin.Context, err error) {
	if e, ok := crm.AsError(err); ok && e.Kind != crm.KindInternal {
		if e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
		}
		writeError(c, statusOf[e.Kind], e.Code, e.Message)
		return
	}
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away; nobody reads the answer and nothing failed.
		c.AbortWithStatus(statusClientClosed)
		return
	}
	c.Error(err) // logged by logRequests with the request id
	if unavailable(err) {
		writeError(c, http.StatusServiceUnavailable, "unavailable", "a service crmguard depends on is not answering; try again shortly")
		return
	}
	writeError(c, http.StatusInternalServerError, "internal", "internal error; the request id is "+c.GetString(requestIDKey))
}

// unavailable reports whether err means a dependency did not answer, as
// opposed to a bug.
func unavailable(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || store.Unavailable(err) || errors.Is(err, context.DeadlineExceeded)
}
