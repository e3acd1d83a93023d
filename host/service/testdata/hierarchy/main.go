// Command hierarchy is a plugin for the service's tests that shows what the
// host tells plugins of a user. Its policy lets non-admins see the leads
// of their reports, the contacts of their managers and the opportunities
// of their role peers, nothing else of those types, and, with the setting
// grants_from, the accounts granted them by the plugins it names; its
// route GET /user answers the caller as it received them.
package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/crmguard/crmguard/sdk"
)

type hierarchy struct{}

func (hierarchy) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID: "hierarchy", Name: "Hierarchy", Version: "1.0.0", Priority: 100,
		Description:     "Shows what the host tells plugins of a user (for tests).",
		SettingsSchema:  json.RawMessage(`{"type":"object"}`),
		DefaultSettings: json.RawMessage(`{}`),
	}
}

func (hierarchy) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	p := req.Policy
	if p.Admin {
		return p, nil
	}
	p.SetRule(sdk.TypeLead, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerIn, Users: req.User.Reports}}})
	p.SetRule(sdk.TypeContact, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerIn, Users: req.User.Managers}}})
	p.SetRule(sdk.TypeOpportunity, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondOwnerIn, Users: req.User.RolePeers}}})
	var settings struct {
		GrantsFrom []string `json:"grants_from"`
	}
	if err := json.Unmarshal(req.Settings, &settings); err != nil {
		return sdk.Policy{}, err
	}
	if len(settings.GrantsFrom) > 0 {
		p.SetRule(sdk.TypeAccount, sdk.ActionView, sdk.Rule{Any: []sdk.Cond{{Kind: sdk.CondGranted, Sources: settings.GrantsFrom}}})
	}
	return p, nil
}

func (hierarchy) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(sdk.Caller(r.Context()).User)
	})
	return mux
}

func main() { sdk.Serve(hierarchy{}) }
