// Package api serves the host's HTTP API (DESIGN §11) with Gin. It turns
// requests into calls of the service layer and errors into JSON; it is the
// only package that knows Gin.
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
)

// MaxBodyBytes is the largest request body accepted (413 beyond it).
const MaxBodyBytes = 1 << 20

// Options are the dependencies of the HTTP API.
type Options struct {
	Service *service.Service
	Logger  *slog.Logger
	// Registry receives the HTTP metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Ready reports whether the host can serve (database reachable); /readyz
	// answers 503 while it returns an error.
	Ready func(ctx context.Context) error
	// TrustedProxies are the addresses whose X-Forwarded-For is believed;
	// none by default, so the client address is the peer's.
	TrustedProxies []string
	// OperatorToken is the bearer token of the operator endpoints under
	// /v1/admin; empty turns them off (403 operator_disabled).
	OperatorToken string
	// Now is the clock of the failed-authentication limiter; time.Now
	// when nil.
	Now func() time.Time
}

type server struct {
	svc     *service.Service
	log     *slog.Logger
	ready   func(context.Context) error
	limiter *failLimiter
	// operator is the SHA-256 of the operator token, nil when there is
	// none: comparing digests takes the same time whatever the lengths.
	operator *[sha256.Size]byte
}

// New returns the API's handler.
func New(opts Options) (http.Handler, error) {
	if opts.Service == nil || opts.Logger == nil || opts.Registry == nil || opts.Ready == nil {
		return nil, errors.New("api: Service, Logger, Registry and Ready are required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &server{svc: opts.Service, log: opts.Logger, ready: opts.Ready, limiter: newFailLimiter(now)}
	if opts.OperatorToken != "" {
		sum := sha256.Sum256([]byte(opts.OperatorToken))
		s.operator = &sum
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	r.Use(requestID, s.logRequests, m.observe, s.recoverPanic, limitBody)
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "no_route", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint does not answer "+c.Request.Method)
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{})))

	authz := r.Group("/v1/authz", s.authenticate)
	authz.POST("/check", s.authzCheck)
	authz.POST("/filter", s.authzFilter)

	// An adopted CRM's service token says a record changed behind
	// crmguard's back: POST /v1/records/{type}/{id}:changed.
	r.POST("/v1/records/:type/:id", s.authenticate, s.recordChanged)
	// ... and that a user changed: POST /v1/users/{id}:changed.
	r.POST("/v1/users/:id", s.authenticate, s.userChanged)

	v1 := r.Group("/v1", s.authenticate, usersOnly)
	v1.GET("/me", s.me)
	v1.GET("/records/:type", s.listRecords)
	v1.POST("/records/:type", s.postRecords)
	v1.GET("/records/:type/:id", s.getRecord)
	v1.PATCH("/records/:type/:id", s.patchRecord)
	v1.DELETE("/records/:type/:id", s.deleteRecord)
	v1.PUT("/records/:type/:id/owner", s.putOwner)
	v1.GET("/records/:type/:id/related", s.relatedRecords)
	v1.GET("/records/:type/:id/access", s.recordAccess)
	v1.GET("/users", s.listUsers)
	v1.POST("/users", s.createUser)
	v1.GET("/users/:id", s.getUser)
	v1.PATCH("/users/:id", s.patchUser)
	v1.GET("/roles", s.listRoles)
	v1.GET("/roles/:name", s.getRole)
	v1.PUT("/roles/:name", s.putRole)
	v1.GET("/teams", s.listTeams)
	v1.POST("/teams", s.createTeam)
	v1.GET("/teams/:id", s.getTeam)
	v1.PUT("/teams/:id/members", s.putTeamMembers)
	v1.GET("/settings", s.getSettings)
	v1.PUT("/settings", s.putSettings)
	v1.GET("/notifications", s.listNotifications)
	v1.GET("/plugins", s.listPlugins)
	v1.POST("/plugins/:id/activate", s.activatePlugin)
	v1.POST("/plugins/:id/deactivate", s.deactivatePlugin)
	v1.GET("/plugins/:id/settings", s.getPluginSettings)
	v1.PUT("/plugins/:id/settings", s.putPluginSettings)
	v1.Any("/plugins/:id/api/*path", s.pluginAPI)

	// For whoever runs the host: user tokens, even admins', do not work.
	admin := r.Group("/v1/admin", s.authenticateOperator)
	admin.POST("/plugins/:id/restart", s.restartPlugin)
	admin.GET("/outbox/dead-letters", s.listDeadLetters)
	admin.POST("/outbox/dead-letters/replay", s.replayDeadLetters)
	admin.GET("/outbox/dead-letters/:id", s.getDeadLetter)
	admin.POST("/outbox/dead-letters/:id/replay", s.replayDeadLetter)
	return r, nil
}

func (s *server) readyz(c *gin.Context) {
	if err := s.ready(c.Request.Context()); err != nil {
		s.log.Warn("not ready", "err", err)
		writeError(c, http.StatusServiceUnavailable, "not_ready", "the database is not reachable")
		return
	}
	// Plugins are reported, not required: a plugin that is down fails only
	// the installs that have it active, and those closed (503).
	states, health := map[string]string{}, map[string]pluginHealthJSON{}
	for id, st := range s.svc.PluginHealth() {
		states[id] = st.State
		health[id] = toPluginHealthJSON(st)
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "plugins": states, "plugin_health": health})
}

// pluginHealthJSON is a plugin's state as /readyz details it.
type pluginHealthJSON struct {
	State     string     `json:"state"`
	Since     time.Time  `json:"since"`
	Restarts  int        `json:"restarts"`
	Failures  int        `json:"failures"`
	NextStart *time.Time `json:"next_start,omitempty"`
}

func toPluginHealthJSON(st plugins.Status) pluginHealthJSON {
	out := pluginHealthJSON{State: st.State, Since: st.Since.UTC(), Restarts: st.Restarts, Failures: st.Failures}
	if !st.NextStart.IsZero() {
		next := st.NextStart.UTC()
		out.NextStart = &next
	}
	return out
}
