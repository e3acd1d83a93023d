package cache

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// mirror is this replica's copy of the Redis counters it has read or been
// told of, so that a warm request need not ask Redis at all.
//
// Every bump is published with the counters it bumped, which the one
// goroutine that reads the subscription drops here; the next request that
// needs one reads it from Redis again and keeps it. To know that nothing published before a moment t is still
// on its way, the listener pings Redis over the subscription connection:
// Redis answers after every message it had published before the ping, on
// that same connection. So once the answer to a ping sent at t is read,
// the mirror holds every bump published before t.
//
// Writers wait the trust window after publishing before they return, and
// a replica trusts its mirror only while its latest answered ping was sent
// less than the trust window ago. A request that starts after a write has
// returned is therefore either answered from a mirror that has seen the
// write, or reads the counters from Redis. Any break of the subscription
// empties the mirror and stops the trust until a new ping is answered.
type mirror struct {
	window time.Duration
	base   time.Time // monotonic clock origin of trustedUntil

	// mu orders learning against dropping and clearing: a value read from
	// Redis is kept only if nothing dropped it since the read was sent.
	mu         sync.Mutex
	counters   *otter.Cache[string, int64] // by full Redis key
	epochs     map[string]int64            // install epoch keys → values seen; guarded by mu
	era        uint64                      // bumped by every reset
	subscribed bool                        // the subscription is intact in this era
	drops      atomic.Uint64               // drops so far
	dropped    [dropStripes]atomic.Uint64  // per stripe of keys: the drop count after its last drop

	pings map[uint64]int64 // ping sequence → ns since base when sent; guarded by mu

	trustedUntil atomic.Int64 // ns since base; 0: not trusted
}

const dropStripes = 4096

func newMirror(entries int, window time.Duration) (*mirror, error) {
	counters, err := otter.New(&otter.Options[string, int64]{MaximumSize: entries})
	if err != nil {
		return nil, err
	}
	return &mirror{window: window, base: time.Now(), counters: counters, epochs: map[string]int64{}, pings: map[uint64]int64{}}, nil
}

func (m *mirror) now() int64 { return int64(time.Since(m.base)) }

func stripe(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % dropStripes)
}

func (m *mirror) trusted() bool { return m.now() < m.trustedUntil.Load() }

// read returns the counters keys (full Redis keys, the epoch first) if
// the mirror is trusted and holds all of them.
func (m *mirror) read(keys []string) ([]int64, bool) {
	if !m.trusted() {
		return nil, false
	}
	vals := make([]int64, len(keys))
	for i, k := range keys {
		v, ok := m.counters.GetIfPresent(k)
		if !ok {
			return nil, false
		}
		vals[i] = v
	}
	return vals, true
}

// mark is what learn needs to know of the moment a Redis read was sent.
type mark struct {
	era, drops uint64
	subscribed bool
}

// mark is taken before a Redis read whose counters learn will keep.
func (m *mirror) mark() mark {
	m.mu.Lock()
	defer m.mu.Unlock()
	return mark{era: m.era, drops: m.drops.Load(), subscribed: m.subscribed}
}

// learn keeps counters read from Redis since at (the epoch first): each
// unless a bump dropped it since, and none if the subscription broke. An
// epoch other than the one seen before means Redis lost its counters: the
// whole mirror is emptied.
func (m *mirror) learn(at mark, keys []string, vals []int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !at.subscribed || at.era != m.era {
		return
	}
	epochKey, epoch := keys[0], vals[0]
	if seen, ok := m.epochs[epochKey]; ok && seen != epoch {
		m.resetLocked(true)
		return
	}
	m.epochs[epochKey] = epoch
	for i, k := range keys {
		if m.dropped[stripe(k)].Load() <= at.drops {
			m.counters.Set(k, vals[i])
		}
	}
}

// drop forgets counters that were bumped: the next read of them asks Redis.
func (m *mirror) drop(keys []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		n := m.drops.Add(1)
		m.dropped[stripe(k)].Store(n)
		m.counters.Invalidate(k)
	}
}

// reset empties the mirror and stops trusting it; subscribed says whether
// a new subscription starts with it (a new era) or the subscription broke.
func (m *mirror) reset(subscribed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked(subscribed)
}

func (m *mirror) resetLocked(subscribed bool) {
	m.trustedUntil.Store(0)
	m.era++
	m.subscribed = subscribed
	m.counters.InvalidateAll()
	clear(m.epochs)
	clear(m.pings)
}

// sent records when ping seq was sent.
func (m *mirror) sent(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pings[seq] = m.now()
}

// answered extends the trust to a trust window after ping seq was sent.
func (m *mirror) answered(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.pings[seq]
	for s := range m.pings {
		if s <= seq {
			delete(m.pings, s)
		}
	}
	if ok && m.subscribed && at+int64(m.window) > m.trustedUntil.Load() {
		m.trustedUntil.Store(at + int64(m.window))
	}
}

// A message on the invalidation channel is lines of
//
//	c <counter key>   a counter that was bumped (a full Redis key)
//	d <entry key>     an L1 entry to drop
type bumpMessage struct {
	counters []string
	drop     []string
}

func (b bumpMessage) encode() string {
	var sb strings.Builder
	for _, k := range b.counters {
		sb.WriteString("c ")
		sb.WriteString(k)
		sb.WriteByte('\n')
	}
	for _, k := range b.drop {
		sb.WriteString("d ")
		sb.WriteString(k)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func decodeBump(payload string) bumpMessage {
	var b bumpMessage
	for line := range strings.SplitSeq(payload, "\n") {
		switch kind, key, _ := strings.Cut(line, " "); kind {
		case "c":
			b.counters = append(b.counters, key)
		case "d":
			b.drop = append(b.drop, key)
		}
	}
	return b
}
