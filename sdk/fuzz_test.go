package sdk_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
)

// FuzzPolicyJSON feeds a policy document the way a plugin's answer reaches
// the host: JSON, decoded, validated. A document that validates is the
// same policy after a trip over the wire (encoded and decoded again), and
// its encoding is then stable, so host and plugin read one document alike.
func FuzzPolicyJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc []byte) {
		var p sdk.Policy
		if err := json.Unmarshal(doc, &p); err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			if !strings.HasPrefix(err.Error(), "policy: ") {
				t.Fatalf("Validate: %q does not say it is about the policy", err)
			}
			return
		}
		wire, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a valid policy does not encode: %v", err)
		}
		var q sdk.Policy
		if err := json.Unmarshal(wire, &q); err != nil {
			t.Fatalf("the encoding of a valid policy does not decode: %v\n%s", err, wire)
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("a valid policy is invalid after a trip over the wire: %v\n%s", err, wire)
		}
		if !reflect.DeepEqual(normal(p), normal(q)) {
			t.Fatalf("the policy changed over the wire:\n%+v\n%+v", p, q)
		}
		again, err := json.Marshal(q)
		if err != nil || !bytes.Equal(again, wire) {
			t.Fatalf("the encoding is not stable:\n%s\n%s", wire, again)
		}
	})
}

// normal is p with one spelling of "nothing": an empty list or rule map
// means what a missing one means.
func normal(p sdk.Policy) sdk.Policy {
	out := sdk.Policy{Admin: p.Admin}
	for typ, actions := range p.Rules {
		for a, r := range actions {
			out.SetRule(typ, a, sdk.Rule{Any: normalConds(r.Any), All: normalConds(r.All)})
		}
		if len(actions) == 0 {
			if out.Rules == nil {
				out.Rules = map[sdk.RecordType]map[sdk.Action]sdk.Rule{}
			}
			out.Rules[typ] = nil
		}
	}
	return out
}

func normalConds(cs []sdk.Cond) []sdk.Cond {
	if len(cs) == 0 {
		return nil
	}
	out := make([]sdk.Cond, len(cs))
	for i, c := range cs {
		out[i] = c
		out[i].Users, out[i].Teams, out[i].Sources = nilIfEmpty(c.Users), nilIfEmpty(c.Teams), nilIfEmpty(c.Sources)
	}
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// FuzzSettingsSchema feeds the compiler a manifest's settings schema and
// the schema's check an install's settings: neither panics nor reaches
// outside the schema, and settings the check accepts are a JSON object,
// which is what a plugin then decodes.
func FuzzSettingsSchema(f *testing.F) {
	f.Fuzz(func(t *testing.T, schema, settings []byte) {
		s, err := sdk.CompileSettingsSchema(schema)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a schema refused without a reason")
			}
			return
		}
		if err := s.Validate(settings); err != nil {
			if err.Error() == "" {
				t.Fatal("settings refused without a reason")
			}
			return
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(settings))
		dec.UseNumber() // 1e400 is JSON, if not a float64
		if err := dec.Decode(&obj); err != nil || obj == nil {
			t.Fatalf("the schema accepted settings that are not a JSON object: %v\n%q", err, settings)
		}
	})
}
