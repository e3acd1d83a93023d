// Command faulty is a plugin for tests that misbehaves on demand. Its
// hooks panic when its settings name them ({"panic_in":["policy"]});
// otherwise they change nothing. Its routes say what request they saw
// (GET /echo/..., with its X-Test header), redirect where they are told (GET /redirect?to=...),
// and panic (GET /panic).
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/crmguard/crmguard/sdk"
)

type faulty struct{}

func (faulty) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID: "faulty", Name: "Faulty", Version: "1.0.0", Priority: 1000,
		Description: "Misbehaves on demand (for tests).",
		SettingsSchema: json.RawMessage(`{"type":"object","properties":{"panic_in":{"type":"array","items":{"enum":
			["activate","deactivate","settings","policy","before_write","after_write"]}}}}`),
		DefaultSettings: json.RawMessage(`{}`),
	}
}

// panicIn panics when settings name hook.
func panicIn(hook string, settings json.RawMessage) {
	var s struct {
		PanicIn []string `json:"panic_in"`
	}
	json.Unmarshal(settings, &s)
	if slices.Contains(s.PanicIn, hook) {
		panic("faulty: told to panic in " + hook)
	}
}

func (faulty) Activate(_ context.Context, _ sdk.Install, settings json.RawMessage) error {
	panicIn("activate", settings)
	return nil
}

func (faulty) Deactivate(_ context.Context, _ sdk.Install, settings json.RawMessage) error {
	panicIn("deactivate", settings)
	return nil
}

func (faulty) ValidateSettings(_ context.Context, _ sdk.Install, settings json.RawMessage) error {
	panicIn("settings", settings)
	return nil
}

func (faulty) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	panicIn("policy", req.Settings)
	return req.Policy, nil
}

func (faulty) BeforeWrite(_ context.Context, w sdk.Write) (sdk.WriteChange, error) {
	panicIn("before_write", w.Settings)
	return sdk.WriteChange{}, nil
}

func (faulty) AfterWrite(_ context.Context, e sdk.WriteEvent) error {
	panicIn("after_write", e.Settings)
	return nil
}

func (faulty) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		sdk.Reply(w, http.StatusOK, map[string]string{"method": r.Method, "path": r.URL.Path, "escaped": r.URL.EscapedPath(),
			"rest": r.PathValue("rest"), "query": r.URL.RawQuery, "header": r.Header.Get("X-Test")})
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) {
		sdk.Reply(w, http.StatusOK, map[string]string{"path": r.URL.Path})
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) {
		panic("faulty: told to panic in a route")
	})
	return mux
}

func main() { sdk.Serve(faulty{}) }
