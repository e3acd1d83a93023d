package sdk

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

type bare struct{ m Manifest }

func (b bare) Manifest() Manifest { return b.m }

type filtering struct{ bare }

func (filtering) Policy(_ context.Context, req PolicyRequest) (Policy, error) { return req.Policy, nil }

func TestManifestValidate(t *testing.T) {
	good := Manifest{ID: "strict-ownership", Name: "Strict ownership", Version: "1.0.0", SettingsSchema: json.RawMessage(`{}`)}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Manifest)
		want   string
	}{
		{func(m *Manifest) { m.ID = "ab" }, "3 to 64"},
		{func(m *Manifest) { m.ID = "Strict" }, "3 to 64"},
		{func(m *Manifest) { m.ID = strings.Repeat("a", 65) }, "3 to 64"},
		{func(m *Manifest) { m.Version = "" }, "name and version"},
		{func(m *Manifest) { m.DefaultSettings = json.RawMessage(`{`) }, "not JSON"},
	} {
		m := good
		tc.change(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", m, err, tc.want)
		}
	}
}

func TestHooksAreWhatThePluginImplements(t *testing.T) {
	if h := Hooks(bare{}); len(h) != 0 {
		t.Fatalf("a bare plugin has hooks %v", h)
	}
	if h := Hooks(filtering{}); !slices.Equal(h, []string{HookPolicy}) {
		t.Fatalf("hooks %v, want [policy]", h)
	}
}
