// Command hello is the smallest useful crmguard plugin. Per install, it
// makes record types read-only, or hides them, for everyone but admins
// (policy hook); refuses records that lack required fields and gives new
// unassigned records to their creator (before-write hook); and counts the
// install's record writes in the host's key-value store (after-write
// hook), shown with a visit counter on its routes.
//
// Settings: {"read_only_types": ["account"], "hidden_types": ["opportunity"],
// "required_fields": {"lead": ["email"]}, "assign_to_creator": true}
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

type hello struct{}

type settings struct {
	ReadOnlyTypes   []sdk.RecordType            `json:"read_only_types"`
	HiddenTypes     []sdk.RecordType            `json:"hidden_types"`
	RequiredFields  map[sdk.RecordType][]string `json:"required_fields"`
	AssignToCreator bool                        `json:"assign_to_creator"`
}

// settingsSchema is what the host checks settings against before
// ValidateSettings sees them; additionalProperties catches typos.
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "read_only_types": {"$ref": "#/$defs/record_types", "description": "Record types only admins may edit, delete or assign."},
    "hidden_types": {"$ref": "#/$defs/record_types", "description": "Record types only admins see and add."},
    "required_fields": {
      "type": "object",
      "description": "Fields a record of a type must have, by type: writes without them are refused.",
      "propertyNames": {"enum": ["lead", "contact", "account", "opportunity", "activity"]},
      "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}}
    },
    "assign_to_creator": {"type": "boolean", "description": "New records without an owner are assigned to their creator."}
  },
  "additionalProperties": false,
  "$defs": {
    "record_types": {"type": "array", "items": {"enum": ["lead", "contact", "account", "opportunity", "activity"]}}
  }
}`

func (hello) Manifest() sdk.Manifest {
	return sdk.Manifest{
		ID:              "hello",
		Name:            "Hello",
		Version:         "1.0.0",
		Description:     "Makes record types read-only, or hides them, for everyone but admins.",
		Priority:        100,
		SettingsSchema:  json.RawMessage(settingsSchema),
		DefaultSettings: json.RawMessage(`{"read_only_types":[],"hidden_types":[],"required_fields":{},"assign_to_creator":false}`),
	}
}

// schema checks settings before they are decoded, in the plugin as in
// the host; it says everything hello asks of its settings.
var schema = sdk.MustCompileSettingsSchema(json.RawMessage(settingsSchema))

func parse(raw json.RawMessage) (settings, error) {
	var s settings
	if len(raw) == 0 {
		return s, nil
	}
	return s, schema.Decode(raw, &s)
}

func (hello) ValidateSettings(_ context.Context, _ sdk.Install, raw json.RawMessage) error {
	_, err := parse(raw)
	return err
}

// Policy takes edit, delete and assign away on the read-only types, and
// every action on the hidden ones, adding included: an empty rule allows
// nothing.
func (hello) Policy(_ context.Context, req sdk.PolicyRequest) (sdk.Policy, error) {
	s, err := parse(req.Settings)
	if err != nil {
		return sdk.Policy{}, err
	}
	p := req.Policy
	if p.Admin {
		return p, nil
	}
	for _, t := range s.ReadOnlyTypes {
		for _, a := range []sdk.Action{sdk.ActionEdit, sdk.ActionDelete, sdk.ActionAssign} {
			p.SetRule(t, a, sdk.Rule{})
		}
	}
	for _, t := range s.HiddenTypes {
		for _, a := range sdk.Actions {
			p.SetRule(t, a, sdk.Rule{})
		}
	}
	return p, nil
}

// BeforeWrite refuses a record that lacks a required field, and gives a
// new record without an owner to its creator.
func (hello) BeforeWrite(_ context.Context, w sdk.Write) (sdk.WriteChange, error) {
	s, err := parse(w.Settings)
	if err != nil || w.After == nil {
		return sdk.WriteChange{}, err
	}
	for _, field := range s.RequiredFields[w.After.Type] {
		if v, ok := w.After.Data[field]; !ok || v == nil || v == "" {
			return sdk.WriteChange{}, sdk.Deny("missing_field", "%s: %s is required in this install", w.After.Type, field)
		}
	}
	if s.AssignToCreator && w.Operation == sdk.OpCreate && w.After.OwnerID == "" && w.User.ID != "" {
		return sdk.WriteChange{OwnerID: &w.User.ID}, nil
	}
	return sdk.WriteChange{}, nil
}

// AfterWrite counts a record write of the install. Events may come more
// than once: each is remembered (a week) and counted once.
func (hello) AfterWrite(ctx context.Context, e sdk.WriteEvent) error {
	host := sdk.HostAPI(ctx)
	seen := "event:" + e.ID
	if _, found, err := host.KVGet(ctx, e.Install.ID, seen); err != nil || found {
		return err
	}
	if err := updateCounts(ctx, e.Install.ID, func(c map[string]int) { c[e.Operation]++ }); err != nil {
		return err
	}
	_, _, err := host.KVSet(ctx, e.Install.ID, seen, nil, sdk.KVSetOptions{TTL: 7 * 24 * time.Hour})
	return err
}

// writeCounts reads the install's write counts, by operation.
func writeCounts(ctx context.Context, installID string) (map[string]int, *int64, error) {
	counts, zero := map[string]int{}, int64(0)
	v, found, err := sdk.HostAPI(ctx).KVGet(ctx, installID, "writes")
	if err != nil || !found {
		return counts, &zero, err
	}
	return counts, &v.Version, json.Unmarshal(v.Value, &counts)
}

// updateCounts changes the install's write counts with compare-and-set,
// so that concurrent deliveries are all counted.
func updateCounts(ctx context.Context, installID string, change func(map[string]int)) error {
	for {
		counts, version, err := writeCounts(ctx, installID)
		if err != nil {
			return err
		}
		change(counts)
		raw, err := json.Marshal(counts)
		if err != nil {
			return err
		}
		_, stored, err := sdk.HostAPI(ctx).KVSet(ctx, installID, "writes", raw, sdk.KVSetOptions{IfVersion: version})
		if err != nil || stored {
			return err
		}
	}
}

// Routes serves GET /rules, what hello enforces in the caller's install
// (/v1/plugins/hello/api/rules on the host), and GET|POST /visits, a visit
// counter per install kept in the host's key-value store, and GET /writes,
// the install's record writes counted by AfterWrite.
func (hello) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rules", func(w http.ResponseWriter, r *http.Request) {
		caller := sdk.Caller(r.Context())
		s, err := parse(caller.Settings)
		if err != nil { // stored before the schema changed: the admin saves them again
			sdk.Refuse(w, http.StatusServiceUnavailable, "invalid_settings", "hello's settings for this install are not valid: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"install": caller.Install.Slug, "user_id": caller.User.ID,
			"read_only_types": nonNil(s.ReadOnlyTypes), "hidden_types": nonNil(s.HiddenTypes),
		})
	})
	mux.HandleFunc("GET /writes", func(w http.ResponseWriter, r *http.Request) {
		counts, _, err := writeCounts(r.Context(), sdk.Caller(r.Context()).Install.ID)
		if err != nil {
			hostFailed(w)
			return
		}
		sdk.Reply(w, http.StatusOK, map[string]any{"writes": counts})
	})
	mux.HandleFunc("GET /visits", func(w http.ResponseWriter, r *http.Request) {
		n, _, err := visits(r.Context())
		reply(w, n, err)
	})
	mux.HandleFunc("POST /visits", func(w http.ResponseWriter, r *http.Request) {
		n, err := visit(r.Context())
		reply(w, n, err)
	})
	return mux
}

// visits reads the install's visit counter from the host's key-value store.
func visits(ctx context.Context) (int, *int64, error) {
	host, in := sdk.HostAPI(ctx), sdk.Caller(ctx).Install
	v, found, err := host.KVGet(ctx, in.ID, "visits")
	if err != nil || !found {
		zero := int64(0)
		return 0, &zero, err
	}
	n, err := strconv.Atoi(string(v.Value))
	return n, &v.Version, err
}

// visit counts one visit: compare-and-set, so that concurrent visits on
// any number of replicas are all counted.
func visit(ctx context.Context) (int, error) {
	host, in := sdk.HostAPI(ctx), sdk.Caller(ctx).Install
	for {
		n, version, err := visits(ctx)
		if err != nil {
			return 0, err
		}
		_, stored, err := host.KVSet(ctx, in.ID, "visits", []byte(strconv.Itoa(n+1)), sdk.KVSetOptions{IfVersion: version})
		if err != nil || stored {
			return n + 1, err
		}
	}
}

func reply(w http.ResponseWriter, n int, err error) {
	if err != nil {
		hostFailed(w)
		return
	}
	sdk.Reply(w, http.StatusOK, map[string]int{"visits": n})
}

// hostFailed answers a route whose call of the host API failed: the host
// did not answer (its database is down, say), so the caller tries again.
func hostFailed(w http.ResponseWriter) {
	sdk.Refuse(w, http.StatusServiceUnavailable, "host_unavailable", "the host could not answer; try again")
}

func nonNil(ts []sdk.RecordType) []sdk.RecordType {
	if ts == nil {
		return []sdk.RecordType{}
	}
	return ts
}

func main() { sdk.Serve(hello{}) }
