package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failLimiter counts failed authentications per client address: a burst of
// mistakes is fine, a stream of guesses is slowed to one a second.
type failLimiter struct {
	mu      sync.Mutex
	clients map[string]*failEntry
}

type failEntry struct {
	limiter *rate.Limiter
	seen    time.Time
}

const (
	failBurst  = 20
	failRate   = rate.Limit(1) // per second, once the burst is spent
	failForget = 10 * time.Minute
	failMax    = 100_000 // addresses tracked before idle ones are dropped
)

func newFailLimiter() *failLimiter { return &failLimiter{clients: map[string]*failEntry{}} }

// blocked reports whether client has no failures left to spend.
func (l *failLimiter) blocked(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	return ok && e.limiter.Tokens() < 1
}

// fail spends one of client's failures.
func (l *failLimiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	e, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= failMax {
			l.forgetIdle(now)
		}
		e = &failEntry{limiter: rate.NewLimiter(failRate, failBurst)}
		l.clients[client] = e
	}
	e.seen = now
	e.limiter.Allow()
}

func (l *failLimiter) forgetIdle(now time.Time) {
	for k, e := range l.clients {
		if now.Sub(e.seen) > failForget {
			delete(l.clients, k)
		}
	}
}
