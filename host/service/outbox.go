package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// The outbox delivers after-write events to plugins at least once: an
// event stays stored until its plugin has taken it, and every replica
// delivers, each event claimed by one at a time.
const (
	outboxPoll  = 500 * time.Millisecond // how often a replica looks for due events
	outboxBatch = 100
	outboxClaim = time.Minute        // how long a claimed event waits for its delivery
	outboxMaxUp = 5 * time.Minute    // the longest wait between two attempts
	outboxFirst = 1 * time.Second    // the wait after the first failure
	outboxDrop  = 7 * 24 * time.Hour // an event no plugin took for this long is dropped
)

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
// returns how many it looked at.
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
		if err := s.deliver(ctx, e); err != nil {
			if now.Sub(e.CreatedAt) > outboxDrop {
				s.log.Error("outbox: dropping an event no delivery took", "plugin", e.PluginID, "event", e.ID, "attempts", e.Attempts+1, "err", err)
				s.dropEvent(ctx, e)
				continue
			}
			wait := min(outboxFirst<<min(e.Attempts, 16), outboxMaxUp)
			s.log.Warn("outbox: delivery failed; will retry", "plugin", e.PluginID, "event", e.ID, "attempts", e.Attempts+1, "retry_in", wait, "err", err)
			if err := s.db.RetryEvent(context.WithoutCancel(ctx), e.ID, s.now().Add(wait), err.Error()); err != nil {
				s.log.Warn("outbox: cannot reschedule", "event", e.ID, "err", err)
			}
			continue
		}
		s.dropEvent(ctx, e)
	}
	return len(due)
}

func (s *Service) dropEvent(ctx context.Context, e store.OutboxEvent) {
	if err := s.db.DeleteEvent(context.WithoutCancel(ctx), e.ID); err != nil {
		s.log.Warn("outbox: cannot remove a delivered event; it will come again", "event", e.ID, "err", err)
	}
}

// deliver hands one event to its plugin. An install that has deactivated
// the plugin since the write no longer tells it anything: the event is
// done.
func (s *Service) deliver(ctx context.Context, e store.OutboxEvent) error {
	var we writeEvent
	if err := json.Unmarshal(e.Event, &we); err != nil {
		s.log.Error("outbox: unreadable event dropped", "event", e.ID, "err", err)
		return nil
	}
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
