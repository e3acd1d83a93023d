// Package host wires crmguard together in one place: the store, the
// service layer and the HTTP API, with their lifecycle (New, Serve, Close).
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/api"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/clock"
	"github.com/crmguard/crmguard/host/mail"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
)

// Host is a running crmguard: an open, migrated store and everything built
// on it.
type Host struct {
	cfg     config.Config
	log     *slog.Logger
	db      *store.DB
	redis   redis.UniversalClient // nil when no Redis is configured
	cache   *cache.Cache
	plugins *plugins.Runtime
	svc     *service.Service
	handler http.Handler
}

// New opens the store, applies pending migrations and builds the service
// and the HTTP API.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Host, error) {
	if log == nil {
		return nil, errors.New("host: nil logger")
	}
	db, err := store.Open(ctx, cfg.Database.Driver, cfg.Database.DSN, store.Options{MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: log, db: db}
	if err := h.build(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Host) build(ctx context.Context) error {
	var mapping *adopt.Mapping
	if h.cfg.Adopt.Enabled() {
		// Checked before anything changes, crmguard's own tables included.
		m, err := resolveAdoption(ctx, h.cfg, h.db)
		if err != nil {
			return err
		}
		mapping = m
	}
	if err := h.db.Migrate(ctx, h.log); err != nil {
		return err
	}
	if h.cfg.RedisEnabled() {
		client, err := redisClient(h.cfg.Redis)
		if err != nil {
			return fmt.Errorf("host: redis.url: %w", err)
		}
		h.redis = client
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	h.cache, err = cache.New(cache.Options{Redis: h.redis, Prefix: "crmguard:", Registry: registry, Logger: h.log})
	if err != nil {
		return err
	}
	opts := []service.Option{service.WithLogger(h.log), service.WithCache(h.cache), service.WithRegistry(registry),
		service.WithOutboxRetry(h.cfg.Outbox.RetryFor)}
	if m := h.cfg.Mail; m.SMTPAddr != "" {
		opts = append(opts, service.WithMailer(mail.SMTP{Addr: m.SMTPAddr, From: m.From, Username: m.Username, Password: m.Password}))
	}
	if f := h.cfg.Clock.OffsetFile; f != "" {
		now, err := clock.Offset(f)
		if err != nil {
			return fmt.Errorf("host: clock.offset_file: %w", err)
		}
		h.log.Warn("the clock is moved by the offset in clock.offset_file", "file", f)
		opts = append(opts, service.WithClock(now))
	}
	svc, err := service.New(h.db, opts...)
	if err != nil {
		return err
	}
	h.svc = svc
	if mapping != nil {
		if err := h.adopt(ctx, mapping); err != nil {
			return err
		}
	}
	// The plugins call the service's host API from their start on; the
	// service routes to the plugins once they all run.
	h.plugins, err = plugins.Start(ctx, plugins.Options{
		Dir: h.cfg.Plugins.Dir, PolicyTimeout: h.cfg.Plugins.PolicyTimeout, HTTPTimeout: h.cfg.Plugins.HTTPTimeout,
		Checksums: h.cfg.Plugins.Checksums, Host: svc.PluginHost(), Logger: h.log, Registry: registry,
		MaxCallsPerInstall: h.cfg.Plugins.MaxCallsPerInstall, StableAfter: h.cfg.Plugins.StableAfter,
		SocketDir: h.cfg.Plugins.SocketDir,
	})
	if err != nil {
		return err
	}
	svc.UsePlugins(h.plugins)
	h.handler, err = api.New(api.Options{
		Service:        svc,
		Logger:         h.log,
		Registry:       registry,
		Ready:          h.ready,
		TrustedProxies: h.cfg.HTTP.TrustedProxies,
		OperatorToken:  h.cfg.Operator.Token,
	})
	return err
}

// ready reports whether the host can answer requests: the database must
// answer. Redis only speeds answers up, so its absence is logged, not fatal.
func (h *Host) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := h.db.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if h.redis != nil {
		if err := h.redis.Ping(ctx).Err(); err != nil {
			h.log.Warn("redis is not answering", "err", err)
		}
	}
	return nil
}

// Service returns the host's service layer, for commands that act without
// HTTP.
func (h *Host) Service() *service.Service { return h.svc }

// Serve answers HTTP on ln until ctx is cancelled, then stops accepting
// connections and lets in-flight requests finish (up to the configured
// shutdown timeout).
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           h.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	outboxCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	outboxDone := make(chan struct{})
	go func() { defer close(outboxDone); h.svc.RunOutbox(outboxCtx) }()
	defer func() { stopOutbox(); <-outboxDone }()
	if _, m := h.db.AdoptedInstall(); m != nil {
		syncDone := make(chan struct{})
		go func() { defer close(syncDone); h.syncAdopted(outboxCtx, m.UserSync) }()
		defer func() { stopOutbox(); <-syncDone }()
	}
	h.log.Info("listening", "addr", ln.Addr().String(), "database", h.db.Driver(), "redis", h.redis != nil,
		"operator_endpoints", h.cfg.Operator.Token != "")
	select {
	case err := <-errc:
		return fmt.Errorf("host: serve: %w", err)
	case <-ctx.Done():
	}
	h.log.Info("shutting down; finishing in-flight requests", "timeout", h.cfg.HTTP.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("host: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("host: serve: %w", err)
	}
	h.log.Info("stopped")
	return nil
}

// ListenAndServe listens on the configured address and serves until ctx is
// cancelled.
func (h *Host) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.cfg.Addr)
	if err != nil {
		return fmt.Errorf("host: listen on %s: %w", h.cfg.Addr, err)
	}
	return h.Serve(ctx, ln)
}

// Close releases the store and Redis connections.
func (h *Host) Close() error {
	var errs []error
	if h.plugins != nil {
		h.plugins.Close()
	}
	if h.cache != nil {
		h.cache.Close()
	}
	if h.redis != nil {
		errs = append(errs, h.redis.Close())
	}
	errs = append(errs, h.db.Close())
	return errors.Join(errs...)
}

// redisClient connects to Redis as configured: one server, a Redis Cluster
// or a master behind Sentinel. Timeouts are short: with Redis slow or gone,
// answering from the database beats waiting.
func redisClient(cfg config.RedisConfig) (redis.UniversalClient, error) {
	const dial, rw = time.Second, 500 * time.Millisecond
	switch cfg.Mode {
	case config.RedisCluster:
		o, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, rw, rw
		return redis.NewClusterClient(o), nil
	case config.RedisSentinel:
		o, err := redis.ParseFailoverURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, rw, rw
		return redis.NewFailoverClient(o), nil
	}
	o, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, rw, rw
	return redis.NewClient(o), nil
}
