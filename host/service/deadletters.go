package service

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// Dead letters are an operator's business, not an install's: the
// operations below are for callers that have authenticated the operator
// (the operator token, the command line). Replays are logged, not
// audited, since the audit log is per install.

// MaxReplayIDs bounds the dead letters one replay by ids names; they are
// replayed in one transaction.
const MaxReplayIDs = 1000

// DeadLetterFilter selects dead letters.
type DeadLetterFilter struct {
	Install string // an install's slug; "": every install
	Plugin  string // a plugin's id; "": every plugin
}

// DeadLetterQuery is a page of the dead letters a filter selects.
type DeadLetterQuery struct {
	DeadLetterFilter
	Limit  int
	Cursor string
}

// DeadLetters returns a page of dead letters, in the order their events
// were written, without the events, and the cursor of the next page ("":
// the last).
func (s *Service) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]store.DeadLetter, string, error) {
	size, after, err := pageRequest(q.Limit, q.Cursor)
	if err != nil {
		return nil, "", err
	}
	dq, err := s.deadLetterQuery(ctx, q.DeadLetterFilter)
	if err != nil {
		return nil, "", err
	}
	dq.After, dq.Limit = after, size+1
	letters, err := s.db.DeadLetters(ctx, dq)
	if err != nil {
		return nil, "", err
	}
	letters, next := cutPage(letters, size, func(d store.DeadLetter) string { return d.ID })
	return letters, next, nil
}

func (s *Service) deadLetterQuery(ctx context.Context, f DeadLetterFilter) (store.DeadLetterQuery, error) {
	dq := store.DeadLetterQuery{PluginID: f.Plugin}
	if f.Plugin != "" && !sdk.ValidPluginID(f.Plugin) {
		return dq, crm.Invalid("invalid_filter", "plugin: %q is not a plugin id (3 to 64 of a-z, 0-9 and -)", crm.Truncate(f.Plugin, 70))
	}
	if f.Install != "" {
		in, err := s.InstallBySlug(ctx, f.Install)
		if err != nil {
			return dq, err
		}
		dq.InstallID = in.ID
	}
	return dq, nil
}

func unknownDeadLetter(ids []string) error {
	shown := ids
	if len(shown) > 5 {
		shown = append(shown[:5:5], "…")
	}
	return crm.Errorf(crm.KindNotFound, "unknown_dead_letter", "no dead letter %s; nothing was replayed", strings.Join(shown, ", "))
}

// DeadLetter returns one dead letter with its event.
func (s *Service) DeadLetter(ctx context.Context, id string) (store.DeadLetter, error) {
	if crm.ValidateID("id", id) != nil { // an event's id: no other can be a dead letter
		return store.DeadLetter{}, unknownDeadLetter([]string{crm.Truncate(id, 40)})
	}
	d, err := s.db.DeadLetter(ctx, id)
	return d, notFound(err, unknownDeadLetter([]string{id}), "dead letter")
}

// ReplayDeadLetters puts dead letters back in the outbox, due now, with a
// fresh count of attempts and a fresh retry window, each in the
// transaction that removes it from the dead letters: all of them, or, if
// any id is not a dead letter, none (404 unknown_dead_letter).
func (s *Service) ReplayDeadLetters(ctx context.Context, ids []string) error {
	switch {
	case len(ids) == 0:
		return crm.Invalid("invalid_ids", "ids: name at least one dead letter")
	case len(ids) > MaxReplayIDs:
		return crm.Invalid("invalid_ids", "ids: at most %d at once, got %d; replay the others with all", MaxReplayIDs, len(ids))
	}
	for _, id := range ids {
		if crm.ValidateID("ids", id) != nil { // an event's id: no other can be a dead letter
			return unknownDeadLetter([]string{crm.Truncate(id, 40)})
		}
	}
	missing, err := s.db.ReplayDeadLetters(ctx, ids, s.clock())
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return unknownDeadLetter(missing)
	}
	s.log.Info("outbox: dead letters replayed by the operator", "count", len(ids), "events", ids)
	s.wakeOutbox()
	return nil
}

// replayChunk is how many dead letters ReplayAllDeadLetters replays in one
// transaction.
const replayChunk = 500

// ReplayAllDeadLetters replays every dead letter the filter selects, as
// ReplayDeadLetters does, a chunk per transaction, and returns how many it
// replayed. One that another operator replays meanwhile is left to them.
func (s *Service) ReplayAllDeadLetters(ctx context.Context, f DeadLetterFilter) (int, error) {
	dq, err := s.deadLetterQuery(ctx, f)
	if err != nil {
		return 0, err
	}
	dq.Limit = replayChunk
	replayed := 0
	defer func() {
		if replayed > 0 {
			s.log.Info("outbox: dead letters replayed by the operator", "count", replayed, "install", f.Install, "plugin", f.Plugin)
			s.wakeOutbox()
		}
	}()
	for {
		page, err := s.db.DeadLetters(ctx, dq)
		if err != nil {
			return replayed, err
		}
		ids := make([]string, len(page))
		for i, d := range page {
			ids[i] = d.ID
		}
		for len(ids) > 0 {
			missing, err := s.db.ReplayDeadLetters(ctx, ids, s.clock())
			if err != nil {
				return replayed, err
			}
			if len(missing) == 0 {
				replayed += len(ids)
				break
			}
			ids = without(ids, missing)
		}
		if len(page) < replayChunk {
			return replayed, nil
		}
		dq.After = page[len(page)-1].ID
	}
}

// without returns the ids that are not in drop.
func without(ids, drop []string) []string {
	gone := map[string]bool{}
	for _, id := range drop {
		gone[id] = true
	}
	var out []string
	for _, id := range ids {
		if !gone[id] {
			out = append(out, id)
		}
	}
	return out
}

// deadLettersWaiting is the gauge of the dead letters waiting, by plugin,
// counted when the metrics are read: every plugin of the host has one,
// zero or not, and so does any other plugin with dead letters.
type deadLettersWaiting struct{ s *Service }

var deadLettersWaitingDesc = prometheus.NewDesc("crmguard_outbox_dead_letters_waiting",
	"After-write events in the dead letters, by plugin, waiting for an operator to replay them.", []string{"plugin"}, nil)

// Describe is part of prometheus.Collector.
func (deadLettersWaiting) Describe(ch chan<- *prometheus.Desc) { ch <- deadLettersWaitingDesc }

// Collect is part of prometheus.Collector.
func (g deadLettersWaiting) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := g.s.db.DeadLettersByPlugin(ctx)
	if err != nil {
		// Left out of this scrape, which still answers: the database's
		// absence shows in /readyz.
		g.s.log.Warn("metrics: cannot count the dead letters", "err", err)
		return
	}
	for _, pl := range g.s.inOrder() {
		if _, ok := counts[pl.Manifest.ID]; !ok {
			counts[pl.Manifest.ID] = 0
		}
	}
	for id, n := range counts {
		ch <- prometheus.MustNewConstMetric(deadLettersWaitingDesc, prometheus.GaugeValue, float64(n), id)
	}
}
