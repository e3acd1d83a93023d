// Command gate is a plugin for tests of the limits on calls to plugins'
// routes: GET /wait blocks until the gate opens (or the call is cut),
// GET /waiting says how many calls wait, POST /open opens the gate for
// good.
package main

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/crmguard/crmguard/sdk"
)

type gate struct {
	waiting atomic.Int64
	open    chan struct{}
	once    sync.Once
}

func (*gate) Manifest() sdk.Manifest {
	return sdk.Manifest{ID: "gate", Name: "Gate", Version: "1.0.0", Description: "Routes that wait until told to go on."}
}

func (g *gate) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		g.waiting.Add(1)
		defer g.waiting.Add(-1)
		select {
		case <-g.open:
			reply(w, map[string]any{"waited": true})
		case <-r.Context().Done():
			http.Error(w, "cut short", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /waiting", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"waiting": g.waiting.Load()})
	})
	mux.HandleFunc("POST /open", func(w http.ResponseWriter, r *http.Request) {
		g.once.Do(func() { close(g.open) })
		reply(w, map[string]any{"open": true})
	})
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func main() { sdk.Serve(&gate{open: make(chan struct{})}) }
