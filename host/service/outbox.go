package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// The outbox delivers after-write events to plugins at least once: an
// event stays stored until its plugin has taken it, and every replica
// delivers, each event claimed by one at a time. An event no delivery took
// within the retry window, or that cannot be read, goes to the dead
// letters, where an operator sees it and may replay it; none is dropped.
const (
	outboxPoll  = 500 * time.Millisecond // how often a replica looks for due events
	outboxBatch = 100
	outboxClaim = time.Minute     // how long a claimed event waits for its delivery
	outboxMaxUp = 5 * time.Minute // the longest wait between two attempts
	outboxFirst = 1 * time.Second // the wait after the first failure
)

// DefaultOutboxRetry is how long an event is retried before it goes to
// the dead letters, unless WithOutboxRetry says otherwise: a night or a
// day of a plugin being down needs no operator, and an event that keeps
// failing is shown to one the next day rather than a week later.
const DefaultOutboxRetry = 24 * time.Hour

// WithOutboxRetry sets how long an after-write event is retried, from its
// writing (or its replay), before it goes to the dead letters.
func WithOutboxRetry(d time.Duration) Option { return func(s *Service) { s.outboxRetry = d } }

// wakeOutbox tells the delivery loop that events were committed.
func (s *Service) wakeOutbox() {
	select {
	case s.outboxWake <- struct{}{}:
	default:
	}
}

// RunOutbox delivers after-write events until ctx ends.
func (s *Service) RunOutbox(ctx context.Context) {
	t := time.NewTicker(outboxPoll)
	defer t.Stop()
	for {
		for s.DeliverDue(ctx) == outboxBatch {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.outboxWake:
		}
	}
}

// DeliverDue delivers the events whose time has come, once each, and
// returns how many it looked at. An event that fails is retried with
// backoff (1 s, 2 s, 4 s… up to 5 minutes apart), the last time at the end
// of its retry window, after which it goes to the dead letters; one that
// cannot be read goes there at once, since retries cannot help it.
func (s *Service) DeliverDue(ctx context.Context) int {
	now := s.now()
	due, err := s.db.DueEvents(ctx, now, outboxBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("outbox: cannot read due events", "err", err)
		}
		return 0
	}
	for _, e := range due {
		if ctx.Err() != nil {
			return 0
		}
		claimed, err := s.db.ClaimEvent(ctx, e, now.Add(outboxClaim))
		if err != nil || !claimed {
			continue
		}
		e.Attempts++
		we, err := readEvent(e.Event)
		if err != nil {
			s.bury(ctx, e, we, fmt.Errorf("the event cannot be read: %w", err))
			continue
		}
		err = s.deliver(ctx, e, we)
		if err == nil {
			s.dropEvent(ctx, e)
			continue
		}
		deadline := e.RetryFrom.Add(s.outboxRetry)
		if !now.Before(deadline) {
			s.bury(ctx, e, we, err)
			continue
		}
		wait := min(outboxFirst<<min(e.Attempts-1, 16), outboxMaxUp)
		next := now.Add(wait)
		if next.After(deadline) {
			next = deadline
		}
		s.log.Warn("outbox: delivery failed; will retry", "plugin", e.PluginID, "install", we.Install.Slug, "event", e.ID,
			"attempts", e.Attempts, "retry_in", next.Sub(now), "err", err)
		if err := s.db.RetryEvent(context.WithoutCancel(ctx), e.ID, next, err.Error()); err != nil {
			s.log.Warn("outbox: cannot reschedule", "event", e.ID, "err", err)
		}
	}
	return len(due)
}

func (s *Service) dropEvent(ctx context.Context, e store.OutboxEvent) {
	if err := s.db.DeleteEvent(context.WithoutCancel(ctx), e.ID); err != nil {
		s.log.Warn("outbox: cannot remove a delivered event; it will come again", "event", e.ID, "err", err)
	}
}

// bury moves an event that will not be delivered to the dead letters, and
// says so where operators look: the log and the metrics. we is what could
// be read of the event.
func (s *Service) bury(ctx context.Context, e store.OutboxEvent, we writeEvent, cause error) {
	b := store.Burial{Cause: cause.Error(), At: s.clock(), Operation: we.Operation}
	if r := we.record(); r != nil {
		b.RecordType, b.RecordID = string(r.Type), r.ID
	}
	install := we.Install.Slug
	if install == "" { // the event could not be read; its row names the install
		install = e.InstallID
		if in, err := s.db.InstallByID(ctx, e.InstallID); err == nil {
			install = in.Slug
		}
	}
	moved, err := s.db.BuryEvent(context.WithoutCancel(ctx), e.ID, b)
	if err != nil {
		// It stays claimed, and comes again when the claim lapses.
		s.log.Warn("outbox: cannot move an event to the dead letters; it will come again", "plugin", e.PluginID,
			"install", install, "event", e.ID, "err", err)
		return
	}
	if !moved {
		return
	}
	s.metrics.deadLetters.WithLabelValues(e.PluginID).Inc()
	s.log.Error("outbox: event moved to the dead letters; replay it with `crmguard outbox replay` once the cause is fixed",
		"plugin", e.PluginID, "install", install, "event", e.ID, "attempts", e.Attempts,
		"operation", b.Operation, "record_type", b.RecordType, "record_id", b.RecordID, "err", cause)
}

// errUnreadable marks an event that decodes but tells of no write.
var errUnreadable = errors.New("it names no operation or record")

// readEvent decodes an outbox event, keeping the numbers of record data
// exactly as they were written.
func readEvent(raw []byte) (writeEvent, error) {
	var we writeEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&we); err != nil {
		return writeEvent{}, err
	}
	if dec.More() {
		return writeEvent{}, errors.New("it holds more than one JSON value")
	}
	if we.Operation == "" || we.record() == nil {
		return we, errUnreadable
	}
	return we, nil
}

// record is the record the event tells of.
func (we writeEvent) record() *sdk.Record {
	if we.After != nil {
		return we.After
	}
	return we.Before
}

// deliver hands one event to its plugin. An install that has deactivated
// the plugin since the write no longer tells it anything: the event is
// done.
func (s *Service) deliver(ctx context.Context, e store.OutboxEvent, we writeEvent) error {
	acts, err := s.db.PluginActivations(ctx, e.InstallID)
	if err != nil {
		return err
	}
	var a *crm.PluginActivation
	for i := range acts {
		if acts[i].PluginID == e.PluginID && acts[i].Active {
			a = &acts[i]
		}
	}
	if a == nil {
		return nil
	}
	pl, ok := s.plugin(e.PluginID)
	if !ok {
		return fmt.Errorf("plugin %s is not on this host", e.PluginID)
	}
	return pl.AfterWrite(ctx, sdk.WriteEvent{ID: e.ID, Install: we.Install, User: we.User, Settings: a.Settings,
		Operation: we.Operation, Before: we.Before, After: we.After, At: we.At})
}
