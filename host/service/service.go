// Package service is the host's application layer: every operation a caller
// can ask for — authentication, records, users, roles, teams, settings —
// with its access checks, transactions and audit, independent of HTTP.
package service

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// Service runs the host's operations against a store.
type Service struct {
	db  *store.DB
	now func() time.Time
	log *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock, so that tests control time.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger for internal errors.
func WithLogger(log *slog.Logger) Option { return func(s *Service) { s.log = log } }

// New returns a Service on db.
func New(db *store.DB, opts ...Option) (*Service, error) {
	if db == nil {
		return nil, errors.New("service: nil store")
	}
	s := &Service{db: db, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
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
