package service

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
)

// session is one operation's view of the cache: the generation counters it
// needs, read once (one Redis round trip), and its caller re-checked
// against them. Every operation of a principal starts with begin.
type session struct {
	s    *Service
	snap cache.Snapshot
	p    crm.Principal
}

// Cache keys of the values the host caches. A policy's key names the
// version of the document's vocabulary: a policy cached by a host that
// knew no add rules would refuse every create until it expired.
func tokenKey(hash string) string               { return "tok:" + hash }
func policyKey(installID, userID string) string { return "pol2:" + installID + ":" + userID }
func recordKey(installID string, r crm.Ref) string {
	return "rec:" + installID + ":" + string(r.Type) + ":" + r.ID
}
func activationsKey(installID string) string { return "acts:" + installID }
func grantsKey(installID string, r crm.Ref) string {
	return "grants:" + installID + ":" + string(r.Type) + ":" + r.ID
}

// begin reads the counters the operation needs — the caller's, those of
// the other users it asks about and those of the records it will read — and
// re-checks the caller's token against them.
func (s *Service) begin(ctx context.Context, p crm.Principal, users []string, refs []crm.Ref) (session, error) {
	in := p.Install.ID
	gens := []string{cache.InstallGen(in)}
	var values []string
	if p.TokenHash != "" {
		values = append(values, tokenKey(p.TokenHash))
	}
	if !p.Service {
		users = append([]string{p.User.ID}, users...)
	}
	for _, u := range users {
		gens = append(gens, cache.UserGen(in, u))
		values = append(values, policyKey(in, u))
	}
	// An adopted CRM's records are read fresh unless its mapping says
	// otherwise: asking Redis for copies that are never kept would cost a
	// round trip per request.
	recordsCached := s.recordCaching(in).cached()
	for _, r := range refs {
		gens = append(gens, cache.RecordGen(in, string(r.Type), r.ID))
		if !recordsCached {
			continue
		}
		values = append(values, recordKey(in, r))
		// The parents this replica has loaded before (for policies that ask
		// about them): read with the rest, not in a round trip of their own.
		rec, _ := s.cache.Peek(recordKey(in, r))
		for range sdk.MaxParentDepth {
			parent := parentOf(rec)
			if parent == nil {
				break
			}
			var loaded bool
			if rec, loaded = s.cache.Peek(recordKey(in, *parent)); loaded {
				gens = append(gens, cache.RecordGen(in, string(parent.Type), parent.ID))
				values = append(values, recordKey(in, *parent))
			}
		}
	}
	se := session{s: s, snap: s.cache.Snapshot(ctx, in, gens, values), p: p}
	if p.TokenHash == "" {
		return se, nil
	}
	fresh, err := se.principalOfToken(ctx, p.TokenHash)
	if err != nil {
		return session{}, err
	}
	se.p = fresh
	return se, nil
}

// beginAsCaller begins an operation of the caller's own and returns their
// effective permissions with the session.
func (s *Service) beginAsCaller(ctx context.Context, p crm.Principal, refs []crm.Ref) (session, viewer, error) {
	se, err := s.begin(ctx, p, nil, refs)
	if err != nil {
		return session{}, viewer{}, err
	}
	v, err := se.viewer(ctx, se.p)
	return se, v, err
}

// parentOf is the parent of a record this replica has cached, if any.
func parentOf(v any) *crm.Ref {
	switch r := v.(type) {
	case crm.Record:
		return r.Parent
	case readRecord:
		return r.Record.Parent
	}
	return nil
}

// principalGens are the counters a principal's cached entries depend on.
func principalGens(p crm.Principal) []string {
	gens := []string{cache.InstallGen(p.Install.ID)}
	if !p.Service {
		gens = append(gens, cache.UserGen(p.Install.ID, p.User.ID))
	}
	return gens
}

// principalOfToken returns who a token belongs to now: from the cache when
// nothing changed since it was cached, from the database otherwise.
func (se session) principalOfToken(ctx context.Context, hash string) (crm.Principal, error) {
	key := tokenKey(hash)
	if v, ok := se.s.cache.Get(key, se.snap, decodeAs[crm.Principal]); ok {
		return enabled(v.(crm.Principal))
	}
	raw, err := hex.DecodeString(hash)
	if err != nil {
		return crm.Principal{}, errBadToken
	}
	p, err := se.s.lookupToken(ctx, raw)
	if err != nil {
		return crm.Principal{}, err
	}
	se.s.cache.Put(ctx, key, p, se.snap, principalGens(p))
	return p, nil
}

// policyEntry is a user's cached effective permissions, with what the
// policy needs to know of records, so that neither is worked out per request.
type policyEntry struct {
	Policy sdk.Policy   `json:"policy"`
	Teams  []string     `json:"teams"`
	Needs  access.Needs `json:"needs"`
	// SeesAll are the record types of which the user may see every
	// record: naming one of them to the user tells nothing.
	SeesAll []sdk.RecordType `json:"sees_all,omitempty"`
	// Hierarchy is the user's managers and reports, worked out only when
	// an active plugin of the install is given users (nil otherwise).
	Hierarchy *crm.Hierarchy `json:"hierarchy,omitempty"`
	// RolePeers are the other users with the user's role, worked out with
	// Hierarchy. The entry depends on other users' roles through them:
	// creating a user or changing one's role bumps the install's counter,
	// which voids it.
	RolePeers []string `json:"role_peers,omitempty"`
}

// viewer returns the effective permissions of p, the caller or a user the
// caller asks about (named in begin).
func (se session) viewer(ctx context.Context, p crm.Principal) (viewer, error) {
	return se.viewerFor(ctx, p.User.ID, func() (crm.Principal, error) { return p, nil })
}

// viewerOf returns the effective permissions of a user of the caller's
// install named in begin; field names the input for the error message.
func (se session) viewerOf(ctx context.Context, userID, field string) (viewer, error) {
	if !se.p.Service && userID == se.p.User.ID {
		return se.viewer(ctx, se.p)
	}
	return se.viewerFor(ctx, userID, func() (crm.Principal, error) {
		u, err := se.s.db.User(ctx, se.p.Install.ID, userID)
		if err != nil {
			return crm.Principal{}, notFound(err, crm.Invalid("unknown_user", "%s: no user %s in this install", field, userID), "user")
		}
		return se.s.PrincipalFor(ctx, se.p.Install, u)
	})
}

// viewerFor returns a user's effective permissions from the cache (a valid
// entry also vouches that the user exists), or computes them from the
// principal that load returns, and caches them.
func (se session) viewerFor(ctx context.Context, userID string, load func() (crm.Principal, error)) (viewer, error) {
	in := se.p.Install.ID
	key := policyKey(in, userID)
	cached, ok := se.s.cache.Get(key, se.snap, decodeAs[policyEntry])
	if !ok {
		p, err := load()
		if err != nil {
			return viewer{}, err
		}
		e, err := se.computePolicy(ctx, p)
		if err != nil {
			return viewer{}, err
		}
		se.s.cache.Put(ctx, key, e, se.snap, principalGens(p))
		cached = e
	}
	e := cached.(policyEntry)
	return viewer{installID: in, policy: e.Policy, subject: access.Subject{UserID: userID, Teams: e.Teams}, needs: e.Needs,
		seesAll: e.SeesAll, hierarchy: e.Hierarchy, rolePeers: e.RolePeers, now: se.s.clock(), target: se.s.target(in, "r")}, nil
}

// target is where an install's records are for the policy compiler, the
// record's table aliased alias.
func (s *Service) target(installID, alias string) access.Target {
	if m := s.db.Adoption(installID); m != nil {
		return access.Adopted(m, installID, alias)
	}
	return access.Target{}
}

// computePolicy works out a user's effective permissions: the base policy
// of the install's settings and the user's role, through the policy hooks
// of the install's active plugins and the service's filters.
func (se session) computePolicy(ctx context.Context, p crm.Principal) (policyEntry, error) {
	s := se.s
	start := time.Now()
	teams, err := s.db.UserTeams(ctx, p.Install.ID, p.User.ID)
	if err != nil {
		return policyEntry{}, fmt.Errorf("teams of %s: %w", p.User.ID, err)
	}
	e := policyEntry{Policy: access.BasePolicy(p.Install.Settings, p.Role)}
	for _, m := range teams {
		e.Teams = append(e.Teams, m.TeamID)
	}
	acts, err := se.activations(ctx)
	if err != nil {
		return policyEntry{}, err
	}
	if s.pluginsGetUsers(acts) {
		if e.Hierarchy, err = s.hierarchy(ctx, p); err != nil {
			return policyEntry{}, err
		}
		if e.RolePeers, err = s.rolePeers(ctx, p); err != nil {
			return policyEntry{}, err
		}
	}
	if e.Policy, err = s.pluginPolicy(ctx, p, acts, pluginUser(p, e.Teams, e.Hierarchy, e.RolePeers), e.Policy); err != nil {
		return policyEntry{}, err
	}
	// Only the grants of plugins active here count, whatever a plugin's
	// policy names.
	e.Policy = access.SuspendGrants(e.Policy, func(source string) bool {
		return slices.ContainsFunc(acts, func(a crm.PluginActivation) bool { return a.PluginID == source && a.Active })
	})
	for _, filter := range s.policyFilters {
		if e.Policy, err = filter(ctx, p, e.Policy); err != nil {
			return policyEntry{}, fmt.Errorf("policy of %s: %w", p.User.ID, err)
		}
		if err := e.Policy.Validate(); err != nil {
			return policyEntry{}, fmt.Errorf("policy of %s: a filter made it invalid: %w", p.User.ID, err)
		}
	}
	e.Needs = access.NeedsOf(e.Policy)
	e.SeesAll = s.seesEvery(p.Install.ID, e.Policy, access.Subject{UserID: p.User.ID, Teams: e.Teams})
	s.metrics.policyCompute.Observe(time.Since(start).Seconds())
	return e, nil
}

// activations returns the plugin activations of the session's install,
// from the cache while the install's counter is unchanged (every change
// of an activation bumps it).
func (se session) activations(ctx context.Context) ([]crm.PluginActivation, error) {
	in := se.p.Install.ID
	key := activationsKey(in)
	if v, ok := se.s.cache.Get(key, se.snap, decodeAs[[]crm.PluginActivation]); ok {
		return v.([]crm.PluginActivation), nil
	}
	acts, err := se.s.db.PluginActivations(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("plugin activations: %w", err)
	}
	se.s.cache.Put(ctx, key, acts, se.snap, []string{cache.InstallGen(in)})
	return acts, nil
}

// record returns a record of the session's install, or store.ErrNotFound,
// from the cache when nothing changed since it was cached. Cached records
// are shared: never change one in place.
//
// That a record does not exist is cached too, under the record's key and
// counters, like a record that does: so a missing id costs what a hidden
// record costs, and its answer takes as long (DESIGN §7). Nothing can
// bring the record into being without voiding the absence: crmguard's own
// records get ids nobody could have asked for before (new ULIDs), and an
// adopted CRM's rows are cached only for adopt.record_cache, absent or
// present, or until the CRM says the record changed.
func (se session) record(ctx context.Context, t crm.RecordType, id string) (crm.Record, error) {
	ref := crm.Ref{Type: t, ID: id}
	if r, ok := se.cachedRecord(ref); ok {
		if isAbsent(r) {
			return crm.Record{}, errCachedAbsent
		}
		return r, nil
	}
	r, err := se.s.db.Record(ctx, se.p.Install.ID, t, id, false)
	if errors.Is(err, store.ErrNotFound) {
		se.putRecord(ctx, ref, absent)
	}
	if err != nil {
		return crm.Record{}, err
	}
	se.putRecord(ctx, ref, r)
	return r, nil
}

// absent is what the cache holds for a record that does not exist: a
// record without an id, which no record has.
var absent = crm.Record{}

func isAbsent(r crm.Record) bool { return r.ID == "" }

var errCachedAbsent = fmt.Errorf("record cached as absent: %w", store.ErrNotFound)

// cachedRecord is a record from the cache. An adopted CRM writes its
// tables behind crmguard's back, so there its records are cached only
// when the operator allows it (adopt.record_cache), and only that long.
func (se session) cachedRecord(ref crm.Ref) (crm.Record, bool) {
	key := recordKey(se.p.Install.ID, ref)
	rc := se.s.recordCaching(se.p.Install.ID)
	switch {
	case !rc.adopted:
		v, ok := se.s.cache.Get(key, se.snap, decodeAs[crm.Record])
		if !ok {
			return crm.Record{}, false
		}
		return v.(crm.Record), true
	case !rc.cached():
		return crm.Record{}, false
	}
	v, ok := se.s.cache.Get(key, se.snap, decodeAs[readRecord])
	if !ok || time.Since(v.(readRecord).ReadAt) >= rc.maxAge {
		return crm.Record{}, false
	}
	return v.(readRecord).Record, true
}

// recordCaching is how an install's records are cached.
type recordCaching struct {
	// adopted is true for an adopted CRM's records, which are cached, as
	// readRecord, only for maxAge (adopt.record_cache; 0: not at all):
	// the CRM writes its tables behind crmguard's back. crmguard's own
	// records are cached until their counters change.
	adopted bool
	maxAge  time.Duration
}

func (rc recordCaching) cached() bool { return !rc.adopted || rc.maxAge > 0 }

func (s *Service) recordCaching(installID string) recordCaching {
	if m := s.db.Adoption(installID); m != nil {
		return recordCaching{adopted: true, maxAge: m.RecordCache}
	}
	return recordCaching{}
}

// readRecord is an adopted CRM's record with the time it was read.
type readRecord struct {
	Record crm.Record `json:"record"`
	ReadAt time.Time  `json:"read_at"`
}

// putRecord caches the record ref names as just read (absent if it does
// not exist), where records are cached.
func (se session) putRecord(ctx context.Context, ref crm.Ref, r crm.Record) {
	in := se.p.Install.ID
	switch rc := se.s.recordCaching(in); {
	case !rc.adopted:
		se.s.cache.Put(ctx, recordKey(in, ref), r, se.snap, recordGens(in, ref))
	case rc.cached():
		se.s.cache.Put(ctx, recordKey(in, ref), readRecord{Record: r, ReadAt: time.Now()}, se.snap, recordGens(in, ref))
	}
}

// grants returns the grants of r that had not expired when they were
// loaded, from the cache when nothing changed since (a record's counter is
// bumped with its grants). Grants that expire later need no invalidation:
// decisions compare their expiry with the time of the request.
func (se session) grants(ctx context.Context, r crm.Record, now time.Time) ([]crm.Grant, error) {
	ref := crm.Ref{Type: r.Type, ID: r.ID}
	key := grantsKey(se.p.Install.ID, ref)
	if v, ok := se.s.cache.Get(key, se.snap, decodeAs[[]crm.Grant]); ok {
		return v.([]crm.Grant), nil
	}
	grants, err := se.s.db.RecordGrants(ctx, se.p.Install.ID, r.Type, r.ID, now)
	if err != nil {
		return nil, err
	}
	se.s.cache.Put(ctx, key, grants, se.snap, recordGens(se.p.Install.ID, ref))
	return grants, nil
}

// parent returns r's parent, from the cache when nothing changed since it
// was cached, and a session to load the parent's own facts.
func (se session) parent(ctx context.Context, r crm.Record, needGrants bool) (crm.Record, factSource, error) {
	ref := *r.Parent
	sub := se.readingRecords(ctx, []crm.Ref{ref}, needGrants)
	p, err := sub.record(ctx, ref.Type, ref.ID)
	return p, sub, err
}

// readingRecords returns a session whose snapshot vouches for the cached
// copies of the records refs (and of their grants, withGrants): se itself
// when it read their counters (a get reads those of the parents this
// replica has met before), otherwise se with a snapshot of their counters
// of its own, read in one round trip — or in none, when this replica holds
// every copy and its mirror of the counters is current.
func (se session) readingRecords(ctx context.Context, refs []crm.Ref, withGrants bool) session {
	in := se.p.Install.ID
	if !slices.ContainsFunc(refs, func(r crm.Ref) bool { return !se.snap.Has(cache.RecordGen(in, string(r.Type), r.ID)) }) {
		return se
	}
	gens := []string{cache.InstallGen(in)}
	var values []string
	cached := se.s.recordCaching(in).cached()
	for _, ref := range refs {
		gens = append(gens, cache.RecordGen(in, string(ref.Type), ref.ID))
		if cached {
			values = append(values, recordKey(in, ref))
		}
		if withGrants {
			values = append(values, grantsKey(in, ref))
		}
	}
	sub := se
	sub.snap = se.s.cache.Snapshot(ctx, in, gens, values)
	return sub
}

// records returns the records among refs that exist, from the cache where
// it can and with one query per type for the rest.
//
// For decisions only: where records are not cached (an adopted CRM's,
// read fresh), only what a policy asks of them is read, and their teams
// only when a policy asks about teams (withTeams).
//
// Records that do not exist are cached as absent, as record does.
func (se session) records(ctx context.Context, refs []crm.Ref, withTeams bool) (map[crm.Ref]*crm.Record, error) {
	in := se.p.Install.ID
	cached := se.s.recordCaching(in).cached()
	out := map[crm.Ref]*crm.Record{}
	toRead := map[crm.RecordType][]string{}
	for _, ref := range dedupe(refs) {
		if r, ok := se.cachedRecord(ref); ok {
			if !isAbsent(r) {
				out[ref] = &r
			}
			continue
		}
		toRead[ref.Type] = append(toRead[ref.Type], ref.ID)
	}
	for t, ids := range toRead {
		var recs map[string]crm.Record
		var err error
		if cached {
			recs, err = se.s.db.RecordsByID(ctx, in, t, ids)
		} else {
			recs, err = se.s.db.RecordFacts(ctx, in, t, ids, withTeams)
		}
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			ref := crm.Ref{Type: t, ID: id}
			r, found := recs[id]
			if found {
				out[ref] = &r
			} else {
				r = absent
			}
			if cached {
				se.putRecord(ctx, ref, r)
			}
		}
	}
	return out, nil
}

// recordGens are the counters a cached record depends on; install-wide
// changes (bulk reassignment, settings) void every record of the install.
func recordGens(installID string, r crm.Ref) []string {
	return []string{cache.InstallGen(installID), cache.RecordGen(installID, string(r.Type), r.ID)}
}

// decodeAs decodes a Redis copy of a cached value, keeping numbers exact.
func decodeAs[T any](raw []byte) (any, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}

// errCacheUnavailable refuses a change while the shared cache cannot be
// told about it: other replicas could go on answering from what it changes.
var errCacheUnavailable = crm.Errorf(crm.KindUnavailable, "cache_unavailable",
	"changes are paused while the shared cache (Redis) is unreachable, so that no server answers from stale permissions; nothing was changed, try again shortly")

// checkWritable refuses a change that existing cache entries depend on
// while the shared cache is unreachable.
func (s *Service) checkWritable(ctx context.Context) error {
	if !s.cache.Writable(ctx) {
		return errCacheUnavailable
	}
	return nil
}

// invalidate tells the cache, after a commit, which counters of an install
// the change bumped. A failure is logged, not returned: the change is
// saved, and the cache trusts nothing until it has caught up.
func (s *Service) invalidate(ctx context.Context, installID string, gens []string, entryKeys []string) {
	if err := s.cache.Invalidate(context.WithoutCancel(ctx), installID, gens, entryKeys); err != nil {
		s.log.Warn("cache invalidation deferred until Redis is back", "err", err)
	}
}

// invalidateUsers voids the cached policies (and principals) of users
// after a change.
func (s *Service) invalidateUsers(ctx context.Context, installID string, userIDs ...string) {
	var gens, keys []string
	for _, u := range userIDs {
		gens = append(gens, cache.UserGen(installID, u))
		keys = append(keys, policyKey(installID, u))
	}
	s.invalidate(ctx, installID, gens, keys)
}

// invalidateRecords voids the cached copies of records after a change.
func (s *Service) invalidateRecords(ctx context.Context, installID string, refs ...crm.Ref) {
	var gens, keys []string
	for _, r := range refs {
		gens = append(gens, cache.RecordGen(installID, string(r.Type), r.ID))
		keys = append(keys, recordKey(installID, r))
	}
	s.invalidate(ctx, installID, gens, keys)
}
