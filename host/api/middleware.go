package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/crm"
)

const (
	requestIDKey = "request_id"
	principalKey = "principal"
)

// requestIDPattern limits incoming request ids to what is safe to log.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID keeps the caller's X-Request-ID if it is sane, or makes one,
// and echoes it so that a report can be matched to the logs.
func requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		id = crm.NewID()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

// logRequests writes one structured line per request, with the internal
// errors recorded by fail.
func (s *server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	attrs := []any{
		"request_id", c.GetString(requestIDKey),
		"method", c.Request.Method,
		"route", route(c),
		"path", c.Request.URL.Path,
		"status", c.Writer.Status(),
		"duration", time.Since(start),
		"client", c.ClientIP(),
	}
	if p, ok := c.Get(principalKey); ok {
		pr := p.(crm.Principal)
		attrs = append(attrs, "install", pr.Install.Slug, "user", pr.User.ID)
	}
	level := slog.LevelInfo
	if len(c.Errors) > 0 {
		attrs = append(attrs, "err", c.Errors.String())
		if c.Request.Context().Err() == nil { // not merely a client that left
			level = slog.LevelError
		}
	}
	s.log.Log(c.Request.Context(), level, "request", attrs...)
}

// route is the matched route pattern, so that metrics and logs group
// requests without one series per record id.
func route(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmguard_http_requests_total",
			Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmguard_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	r, status := route(c), strconv.Itoa(c.Writer.Status())
	m.requests.WithLabelValues(c.Request.Method, r, status).Inc()
	m.duration.WithLabelValues(c.Request.Method, r, status).Observe(time.Since(start).Seconds())
}

// recoverPanic turns a panic in a handler into a 500 with the request id,
// logged with its value.
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.fail(c, fmt.Errorf("panic: %v", v))
		}
	}()
	c.Next()
}

// limitBody caps request bodies; decoding past the cap answers 413.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	}
	c.Next()
}

// authenticate resolves the bearer token to a principal. The token is
// checked first: a valid one is never slowed by the failures of others at
// the same address; only a token that fails counts against its address.
func (s *server) authenticate(c *gin.Context) {
	p, err := s.svc.Authenticate(c.Request.Context(), bearer(c))
	if err != nil {
		if crm.KindOf(err) == crm.KindUnauthenticated {
			s.authFailed(c, err)
			return
		}
		s.fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

var (
	errOperatorDisabled = crm.Errorf(crm.KindForbidden, "operator_disabled",
		"the operator endpoints are off on this host: it has no operator.token (CRMGUARD_OPERATOR_TOKEN)")
	errOperatorMissing = crm.Errorf(crm.KindUnauthenticated, "missing_token",
		"this endpoint needs an Authorization: Bearer <operator token> header")
	// One answer for every wrong token, a user's included, so that it
	// tells nothing about why.
	errOperatorInvalid = crm.Errorf(crm.KindUnauthenticated, "invalid_token", "the bearer token is not the operator token")
)

// authenticateOperator lets through the bearer of the host's operator
// token and nobody else: operators run the host, users (admins too) belong
// to an install. Wrong tokens spend the same failed-authentication budget
// as bad user tokens; the right one is never refused for them.
func (s *server) authenticateOperator(c *gin.Context) {
	if s.operator == nil {
		s.fail(c, errOperatorDisabled)
		return
	}
	token := bearer(c)
	sum := sha256.Sum256([]byte(token))
	switch {
	case token == "":
		s.authFailed(c, errOperatorMissing)
	case subtle.ConstantTimeCompare(sum[:], s.operator[:]) != 1:
		s.authFailed(c, errOperatorInvalid)
	default:
		c.Next()
	}
}

// bearer is the request's bearer token, "" when it has none.
func bearer(c *gin.Context) string {
	token, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	return strings.TrimSpace(token)
}

// authFailed answers a failed authentication: 401 while the client's
// address has failures left to spend (spending one), else 429 with the
// whole seconds, rounded up, until it has one again.
func (s *server) authFailed(c *gin.Context, err error) {
	wait := s.limiter.fail(c.ClientIP())
	if wait <= 0 {
		c.Header("WWW-Authenticate", `Bearer realm="crmguard"`)
		s.fail(c, err)
		return
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	c.Header("Retry-After", strconv.FormatInt(secs, 10))
	writeError(c, http.StatusTooManyRequests, "too_many_failures", fmt.Sprintf(
		"too many failed authentications from this address: another bad token is refused for %d more %s; valid tokens are not", secs, unit))
}

func principal(c *gin.Context) crm.Principal {
	return c.MustGet(principalKey).(crm.Principal)
}
