// Package service is the host's application layer: every operation a caller
// can ask for — authentication, records, users, roles, teams, settings —
// with its access checks, transactions and audit, independent of HTTP.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// Service runs the host's operations against a store.
type Service struct {
	db      *store.DB
	cache   *cache.Cache
	now     func() time.Time
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics serviceMetrics

	policyFilters []PolicyFilter
	plugins       *plugins.Runtime // nil: no plugins
	mailer        Mailer           // nil: notifications stay in the outbox
	outboxWake    chan struct{}
	outboxRetry   time.Duration
	// hooked counts, by "install/plugin", the activation and settings
	// hooks running for an install that has not (yet) activated the
	// plugin: they may use the host API for it meanwhile.
	hooked sync.Map // of *atomic.Int32
}

type serviceMetrics struct {
	policyCompute prometheus.Histogram
	deadLetters   *prometheus.CounterVec
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock, so that tests control time.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger for internal errors.
func WithLogger(log *slog.Logger) Option { return func(s *Service) { s.log = log } }

// WithCache sets the cache of principals, policies and records; without
// it the service keeps an in-process cache of its own (one replica).
func WithCache(c *cache.Cache) Option { return func(s *Service) { s.cache = c } }

// PolicyFilter changes a user's effective permissions after the base
// policy of their install and role (DESIGN §6): the seam through which
// extensions narrow or widen access. Its result is cached with the user's
// other permissions, so it must depend only on what invalidates them.
type PolicyFilter func(ctx context.Context, p crm.Principal, policy sdk.Policy) (sdk.Policy, error)

// WithPolicyFilter adds a filter, applied after those added before it.
func WithPolicyFilter(f PolicyFilter) Option {
	return func(s *Service) { s.policyFilters = append(s.policyFilters, f) }
}

// WithRegistry registers the service's metrics.
func WithRegistry(reg prometheus.Registerer) Option { return func(s *Service) { s.reg = reg } }

// New returns a Service on db.
func New(db *store.DB, opts ...Option) (*Service, error) {
	if db == nil {
		return nil, errors.New("service: nil store")
	}
	s := &Service{db: db, now: time.Now, log: slog.New(slog.DiscardHandler), outboxWake: make(chan struct{}, 1), outboxRetry: DefaultOutboxRetry}
	for _, opt := range opts {
		opt(s)
	}
	if s.outboxRetry <= 0 {
		return nil, fmt.Errorf("service: the outbox's retry window must be more than 0, got %s", s.outboxRetry)
	}
	if s.cache == nil {
		c, err := cache.New(cache.Options{Logger: s.log})
		if err != nil {
			return nil, err
		}
		s.cache = c
	}
	s.metrics.policyCompute = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "crmguard_policy_compute_seconds",
		Help:    "Time to compute a user's policy when it is not cached.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05},
	})
	s.metrics.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmguard_outbox_dead_letters_total",
		Help: "After-write events this process moved to the dead letters, by plugin: not delivered within the retry window, or unreadable.",
	}, []string{"plugin"})
	if s.reg != nil {
		for _, c := range []prometheus.Collector{s.metrics.policyCompute, s.metrics.deadLetters, deadLettersWaiting{s}} {
			if err := s.reg.Register(c); err != nil {
				return nil, fmt.Errorf("service: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// verify re-checks the caller for an operation that reads nothing else
// cached, and returns them as they are now.
func (s *Service) verify(ctx context.Context, p crm.Principal) (crm.Principal, error) {
	se, err := s.begin(ctx, p, nil, nil)
	return se.p, err
}

// verifyAdmin is verify for operations only an install's admins may run.
func (s *Service) verifyAdmin(ctx context.Context, p crm.Principal) (crm.Principal, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return crm.Principal{}, err
	}
	return p, access.CheckAdmin(p)
}

// Me returns the caller as they are now.
func (s *Service) Me(ctx context.Context, p crm.Principal) (crm.Principal, error) {
	return s.verify(ctx, p)
}

// clock returns the current time at the store's precision (milliseconds), so
// that what a caller is told equals what a later read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// audit builds an audit event about a record, stamped now.
func (s *Service) audit(p crm.Principal, action string, ref crm.Ref, detail map[string]any) crm.AuditEvent {
	return crm.AuditEvent{
		ID: crm.NewID(), InstallID: p.Install.ID, At: s.clock(), ActorID: p.User.ID,
		Action: action, RecordType: ref.Type, RecordID: ref.ID, Detail: detail,
	}
}

// notFound maps the store's ErrNotFound to notFoundErr, wraps any other
// error and keeps nil as nil.
func notFound(err error, notFoundErr error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFoundErr
	}
	return fmt.Errorf("%s: %w", what, err)
}

// nullable renders an optional id for audit details: null when empty.
func nullable(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// hookFor lets a plugin use the host API for an install while one of its
// hooks runs there on the install's behalf; call the returned func when the
// hook has returned.
func (s *Service) hookFor(installID, pluginID string) (done func()) {
	n, _ := s.hooked.LoadOrStore(installID+"/"+pluginID, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	return func() { n.(*atomic.Int32).Add(-1) }
}

// inHook reports whether a hook of the plugin runs for the install now.
func (s *Service) inHook(installID, pluginID string) bool {
	n, ok := s.hooked.Load(installID + "/" + pluginID)
	return ok && n.(*atomic.Int32).Load() > 0
}
