package cache

import (
	"context"
	"sync"
	"time"
)

// redisFailed handles a failed read or write of a request: the request's
// own cancellation (its client left) says nothing about Redis; any other
// failure marks the cache unhealthy.
func (c *Cache) redisFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	c.markUnhealthy(err)
}

// markUnhealthy stops the cache from being trusted until Redis answers
// again and a new epoch is started. A failed invalidation always counts,
// whatever its context: its bumps are pending.
func (c *Cache) markUnhealthy(err error) {
	c.metrics.redisErrors.Inc()
	if c.healthy.Swap(false) {
		c.log.Warn("redis is unreachable; answering from the database until it is back", "err", err)
	}
}

// watchHealth brings an unhealthy cache back: once Redis answers, it
// applies the bumps that failed and empties the L1, and only then trusts
// the cache again.
func (c *Cache) watchHealth(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(c.opts.HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, c.opts.HealthEvery)
		err := c.opts.Redis.Ping(pingCtx).Err()
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				c.markUnhealthy(err)
			}
			continue
		}
		if c.healthy.Load() {
			cancel()
			continue
		}
		err = c.recover(pingCtx)
		cancel()
		if err != nil {
			c.log.Warn("redis answers but recovery failed; trying again", "err", err)
			continue
		}
		c.l1.InvalidateAll()
		c.healthy.Store(true)
		c.log.Info("redis is back; caching again")
	}
}

func (c *Cache) recover(ctx context.Context) error {
	if keys := c.pending.take(); len(keys) > 0 {
		if err := c.bumpRedis(ctx, keys, nil); err != nil {
			c.pending.add(keys)
			return err
		}
	}
	return nil
}

// pendingBumps are bumps (full Redis keys) that could not reach Redis.
type pendingBumps struct {
	mu   sync.Mutex
	gens map[string]struct{}
}

func (p *pendingBumps) add(gens []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gens == nil {
		p.gens = map[string]struct{}{}
	}
	for _, g := range gens {
		p.gens[g] = struct{}{}
	}
}

func (p *pendingBumps) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.gens))
	for g := range p.gens {
		out = append(out, g)
	}
	p.gens = nil
	return out
}
