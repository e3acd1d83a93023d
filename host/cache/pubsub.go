package cache

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// bumpRedis increments counters given as full Redis keys and publishes
// them, with the entry keys to drop.
func (c *Cache) bumpRedis(ctx context.Context, keys []string, entryKeys []string) error {
	_, err := c.opts.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Incr(ctx, k)
		}
		p.Publish(ctx, c.channel(), bumpMessage{counters: keys, drop: entryKeys}.encode())
		return nil
	})
	return err
}

// channel is where invalidations are published.
func (c *Cache) channel() string { return c.opts.Prefix + "invalidate" }

// listen applies other replicas' invalidations — drops L1 entries and
// mirrored counters — and keeps the mirror trusted by pinging Redis over
// the subscription (see mirror). Any error of the subscription empties
// the mirror; the subscription's confirmation starts a new one.
func (c *Cache) listen(ctx context.Context) {
	defer c.done.Done()
	sub := c.opts.Redis.Subscribe(ctx, c.channel())
	pinging, kick := make(chan struct{}), make(chan struct{}, 1)
	go func() {
		defer close(pinging)
		c.ping(ctx, sub, kick)
		sub.Close() // ends a Receive that waits for a message
	}()
	defer func() { <-pinging }()
	for ctx.Err() == nil {
		msg, err := sub.Receive(ctx)
		if err != nil {
			c.mirror.reset(false)
			if ctx.Err() == nil {
				c.log.Debug("invalidation subscription broke; reconnecting", "err", err)
				sleep(ctx, c.opts.HealthEvery)
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.mirror.reset(true)
				select {
				case kick <- struct{}{}: // confirm the new subscription at once
				default:
				}
			}
		case *redis.Message:
			b := decodeBump(m.Payload)
			c.mirror.drop(b.counters)
			for _, k := range b.drop {
				c.l1.Invalidate(k)
			}
		case *redis.Pong:
			if seq, ok := strings.CutPrefix(m.Payload, pingPrefix); ok {
				if n, err := strconv.ParseUint(seq, 10, 64); err == nil {
					c.mirror.answered(n)
				}
			}
		}
	}
}

const pingPrefix = "crmguard-mirror "

// ping asks Redis, over the subscription, to confirm that everything
// published so far has been delivered: a few times per trust window, and
// when kicked.
func (c *Cache) ping(ctx context.Context, sub *redis.PubSub, kick <-chan struct{}) {
	t := time.NewTicker(c.opts.TrustWindow / 4)
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		c.mirror.sent(seq)
		_ = sub.Ping(ctx, pingPrefix+strconv.FormatUint(seq, 10)) // a failure shows in Receive
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
