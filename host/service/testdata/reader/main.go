// Command reader is a plugin for the service's tests that reads records
// through the host API. Its policy lets non-admins see only the leads they
// own; its routes answer records read as the caller (GET /as-caller/{type}
// and /as-caller/{type}/{id}) or as the plugin itself (GET
// /as-plugin/{type}/{id}), as the host gave them, and the install as the
// host describes it to the plugin (GET /install).
package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/crmguard/crmguard/sdk"
)

type reader struct{}

func (reader) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID: "reader", Name: "Reader", Version: "1.0.0", Priority: 100,
		Description:     "Reads records through the host API (for tests).",
		SettingsSchema:  json.RawMessage(`{"type":"object"}`),
		DefaultSettings: json.RawMessage(`{}`),
	}
}

func (reader) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	p := req.Policy
	if !p.Admin {
		p.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerSelf}}})
	}
	return p, nil
}

func (reader) Routes() http.Handler {
	mux := http.NewServeMux()
	get := func(w http.ResponseWriter, r *http.Request, asUser string) {
		ctx, caller := r.Context(), sdk.Caller(r.Context())
		ref := sdk.Ref{Type: sdk.RecordType(r.PathValue("type")), ID: r.PathValue("id")}
		rec, err := sdk.HostAPI(ctx).Record(ctx, caller.Install.ID, ref, asUser)
		if err != nil {
			sdk.Refuse(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		sdk.Reply(w, http.StatusOK, rec)
	}
	mux.HandleFunc("GET /as-caller/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		get(w, r, sdk.Caller(r.Context()).User.ID)
	})
	mux.HandleFunc("GET /as-plugin/{type}/{id}", func(w http.ResponseWriter, r *http.Request) { get(w, r, "") })
	mux.HandleFunc("GET /install", func(w http.ResponseWriter, r *http.Request) {
		sdk.Reply(w, http.StatusOK, sdk.Caller(r.Context()).Install)
	})
	mux.HandleFunc("GET /as-caller/{type}", func(w http.ResponseWriter, r *http.Request) {
		ctx, caller := r.Context(), sdk.Caller(r.Context())
		recs, _, err := sdk.HostAPI(ctx).Records(ctx, caller.Install.ID, sdk.RecordQuery{Type: sdk.RecordType(r.PathValue("type")), AsUserID: caller.User.ID, Limit: 200})
		if err != nil {
			sdk.Refuse(w, http.StatusBadRequest, "bad_query", err.Error())
			return
		}
		sdk.Reply(w, http.StatusOK, map[string]any{"items": recs})
	})
	return mux
}

func main() { sdk.Serve(reader{}) }
