package sdktest

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// Host is an in-memory host API for in-process tests: a key-value store
// per install with the host's compare-and-set and expiry rules.
type Host struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[[2]string]hostEntry
	version int64
}

type hostEntry struct {
	value   []byte
	version int64
	expires time.Time // zero: never
}

// NewHost returns an empty fake host.
func NewHost() *Host {
	return &Host{now: time.Now, entries: map[[2]string]hostEntry{}}
}

func (h *Host) live(k [2]string) (hostEntry, bool) {
	e, ok := h.entries[k]
	if ok && !e.expires.IsZero() && !h.now().Before(e.expires) {
		delete(h.entries, k)
		return hostEntry{}, false
	}
	return e, ok
}

// KVGet is part of sdk.Host.
func (h *Host) KVGet(_ context.Context, installID, key string) (sdk.KVValue, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live([2]string{installID, key})
	return sdk.KVValue{Value: e.value, Version: e.version}, ok, nil
}

// KVSet is part of sdk.Host.
func (h *Host) KVSet(_ context.Context, installID, key string, value []byte, opts sdk.KVSetOptions) (int64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := [2]string{installID, key}
	cur, _ := h.live(k)
	if opts.IfVersion != nil && *opts.IfVersion != cur.version {
		return cur.version, false, nil
	}
	h.version++
	e := hostEntry{value: append([]byte(nil), value...), version: h.version}
	if opts.TTL > 0 {
		e.expires = h.now().Add(opts.TTL)
	}
	h.entries[k] = e
	return e.version, true, nil
}

// KVDelete is part of sdk.Host.
func (h *Host) KVDelete(_ context.Context, installID, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.entries, [2]string{installID, key})
	return nil
}

// Route sends a request to p's routes in-process, as the host forwards
// one: from caller, with host as the host API.
func Route(p sdk.Router, host sdk.Host, caller sdk.CallerInfo, method, path, body string) *httptest.ResponseRecorder {
	ctx := sdk.WithHost(sdk.WithCaller(context.Background(), caller), host)
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	p.Routes().ServeHTTP(w, req)
	return w
}
