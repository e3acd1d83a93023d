// Command recorder is a plugin for tests that keeps what its after-write
// hook receives. Each delivery is appended to a list in its key-value store
// (delivered twice, an event is there twice), with every field of the
// record's data as "GoType text", so that a test sees exactly what the SDK
// handed the plugin. With the setting {"fail": true} the hook fails
// instead, as a plugin with a bug would. Its routes: GET /events, the
// deliveries so far; GET /records/{type}/{id}, a record's data as the host
// API reads it, described the same way.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/crmguard/crmguard/sdk"
)

type recorder struct{}

func (recorder) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID: "recorder", Name: "Recorder", Version: "1.0.0", Priority: 100,
		Description: "Keeps what its after-write hook receives (for tests).",
		SettingsSchema: json.RawMessage(`{"type":"object","properties":{"fail":{"type":"boolean"}},
			"additionalProperties":false}`),
		DefaultSettings: json.RawMessage(`{"fail":false}`),
	}
}

// delivery is one call of the after-write hook as it was received.
type delivery struct {
	ID        string            `json:"id"`
	Operation string            `json:"operation"`
	RecordID  string            `json:"record_id"`
	Before    map[string]string `json:"before"`
	After     map[string]string `json:"after"`
}

// describe gives each field of a record's data as its Go type and text.
func describe(r *sdk.Record) map[string]string {
	if r == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range r.Data {
		out[k] = fmt.Sprintf("%T %v", v, v)
	}
	return out
}

var errTold = errors.New("recorder: told to fail")

func (recorder) AfterWrite(ctx context.Context, e sdk.WriteEvent) error {
	var s struct {
		Fail bool `json:"fail"`
	}
	if err := json.Unmarshal(e.Settings, &s); err != nil {
		return err
	}
	if s.Fail {
		return errTold
	}
	d := delivery{ID: e.ID, Operation: e.Operation, Before: describe(e.Before), After: describe(e.After)}
	if e.After != nil {
		d.RecordID = e.After.ID
	} else if e.Before != nil {
		d.RecordID = e.Before.ID
	}
	host := sdk.HostAPI(ctx)
	for { // compare-and-set, so that concurrent deliveries are all kept
		var list []delivery
		v, found, err := host.KVGet(ctx, e.Install.ID, "deliveries")
		if err != nil {
			return err
		}
		if found {
			if err := json.Unmarshal(v.Value, &list); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(append(list, d))
		if err != nil {
			return err
		}
		_, stored, err := host.KVSet(ctx, e.Install.ID, "deliveries", raw, sdk.KVSetOptions{IfVersion: &v.Version})
		if err != nil || stored {
			return err
		}
	}
}

func (recorder) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		v, found, err := sdk.HostAPI(r.Context()).KVGet(r.Context(), sdk.Caller(r.Context()).Install.ID, "deliveries")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !found {
			w.Write([]byte("[]"))
			return
		}
		w.Write(v.Value)
	})
	mux.HandleFunc("GET /records/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		caller := sdk.Caller(r.Context())
		ref := sdk.Ref{Type: sdk.RecordType(r.PathValue("type")), ID: r.PathValue("id")}
		rec, err := sdk.HostAPI(r.Context()).Record(r.Context(), caller.Install.ID, ref, caller.User.ID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(describe(&rec))
	})
	return mux
}

func main() { sdk.Serve(recorder{}) }
