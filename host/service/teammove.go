package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// TeamMove moves records of one type from team to team.
type TeamMove struct {
	IDs  []string // the records; empty: every record of From
	From string   // the team they are in: a team id or "none"; "" with IDs: any
	To   string   // the team they go to: a team id, or "" or "none" for none
}

// MaxTeamMoveIDs bounds the records one move may list.
const MaxTeamMoveIDs = 1000

// MoveTeams moves records of type t between teams, as an administrator,
// and returns how many changed team. Every listed record must exist, and
// be in From when it is given, or nothing moves. Each change is audited
// and goes through the write hooks.
func (s *Service) MoveTeams(ctx context.Context, p crm.Principal, t crm.RecordType, m TeamMove) (int, error) {
	if err := s.checkWritable(ctx); err != nil {
		return 0, err
	}
	from, to, err := checkTeamMove(s.ids(p.Install.ID), t, m)
	if err != nil {
		return 0, err
	}
	se, v, err := s.beginAsCaller(ctx, p, nil)
	if err != nil {
		return 0, err
	}
	p = se.p
	if err := access.CheckAdmin(p); err != nil {
		return 0, err
	}
	acts, err := se.activations(ctx)
	if err != nil {
		return 0, err
	}
	var moved []string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, team := range []struct{ key, id string }{{"from", from}, {"to", to}} {
			if team.id == "" {
				continue
			}
			if _, err := tx.Team(ctx, p.Install.ID, team.id); err != nil {
				return notFound(err, crm.Invalid("unknown_team", "%s: no team %s in this install", team.key, team.id), "team")
			}
		}
		was, err := tx.LockTeams(ctx, p.Install.ID, t, m.IDs, from)
		if err != nil {
			return err
		}
		for i, id := range m.IDs {
			team, ok := was[id]
			switch {
			case !ok:
				return crm.Invalid("unknown_record", "ids[%d]: no %s %s in this install; no record was moved", i, t, id)
			case m.From != "" && team != from:
				return crm.Invalid("not_in_team", "ids[%d]: %s %s is not in the team from names; no record was moved", i, t, id)
			}
		}
		for id, team := range was {
			if team != to {
				moved = append(moved, id)
			}
		}
		slices.Sort(moved)
		now := s.clock()
		events := make([]crm.AuditEvent, len(moved))
		for i, id := range moved {
			events[i] = s.audit(p, crm.AuditRecordUpdate, crm.Ref{Type: t, ID: id},
				map[string]any{"fields": []string{"team_id"}, "team": teamChange(was[id], to), "bulk": true})
		}
		for start := 0; start < len(moved); start += bulkChunk {
			if err := tx.SetTeams(ctx, p.Install.ID, t, moved[start:min(start+bulkChunk, len(moved))], to, now); err != nil {
				return err
			}
		}
		if err := tx.AppendAudit(ctx, events...); err != nil {
			return err
		}
		return s.bulkHooks(ctx, tx, se, v, acts, sdk.OpUpdate, t, moved, func(r *crm.Record) { r.TeamID = was[r.ID] })
	})
	if err != nil {
		return 0, err
	}
	if len(moved) > 0 {
		s.invalidate(ctx, p.Install.ID, []string{cache.InstallGen(p.Install.ID)}, nil)
		s.wakeOutbox()
	}
	return len(moved), nil
}

// checkTeamMove checks a move's input and returns the teams it is from
// ("" for none, when From names one) and to ("" for none).
func checkTeamMove(ids ids, t crm.RecordType, m TeamMove) (from, to string, err error) {
	if len(m.IDs) > MaxTeamMoveIDs {
		return "", "", crm.Invalid("too_many_ids", "ids: at most %d records at once, got %d", MaxTeamMoveIDs, len(m.IDs))
	}
	seen := make(map[string]bool, len(m.IDs))
	for i, id := range m.IDs {
		if err := ids.record(fmt.Sprintf("ids[%d]", i), t, id); err != nil {
			return "", "", err
		}
		if seen[id] {
			return "", "", crm.Invalid("duplicate_id", "ids[%d]: %s is listed twice", i, id)
		}
		seen[id] = true
	}
	if len(m.IDs) == 0 && m.From == "" {
		return "", "", crm.Invalid("invalid_move", `from: name the team whose records move ("none" for those without one), or list the records in ids`)
	}
	teamOf := func(key, v string) (string, error) {
		if v == "" || v == "none" {
			return "", nil
		}
		if err := ids.team(key, v); err != nil {
			return "", crm.Invalid("invalid_move", `%s: must be a team id or "none", got %q`, key, v)
		}
		return v, nil
	}
	if from, err = teamOf("from", m.From); err != nil {
		return "", "", err
	}
	if to, err = teamOf("to", m.To); err != nil {
		return "", "", err
	}
	if m.From != "" && from == to {
		return "", "", crm.Invalid("invalid_move", "to: must differ from from")
	}
	return from, to, nil
}

// teamChange is the audit detail of a record's move between teams.
func teamChange(from, to string) map[string]any {
	return map[string]any{"from": nullable(from), "to": nullable(to)}
}
