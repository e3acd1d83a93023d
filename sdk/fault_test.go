package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// panicky panics in the hook it is told to, and answers every other.
type panicky struct{ in string }

func (p panicky) boom(hook string) {
	if p.in == hook {
		panic("boom in " + hook)
	}
}

func (p panicky) Manifest() Manifest {
	p.boom("manifest")
	return Manifest{ID: "panicky", Name: "Panicky", Version: "1"}
}

func (p panicky) Activate(context.Context, Install, json.RawMessage) error {
	p.boom("activate")
	return nil
}

func (p panicky) Deactivate(context.Context, Install, json.RawMessage) error {
	p.boom("deactivate")
	return nil
}

func (p panicky) ValidateSettings(context.Context, Install, json.RawMessage) error {
	p.boom("settings")
	return nil
}

func (p panicky) Policy(_ context.Context, req PolicyRequest) (Policy, error) {
	p.boom("policy")
	return req.Policy, nil
}

func (p panicky) BeforeWrite(context.Context, Write) (WriteChange, error) {
	p.boom("before_write")
	return WriteChange{}, nil
}

func (p panicky) AfterWrite(context.Context, WriteEvent) error {
	p.boom("after_write")
	return nil
}

// hookCalls calls each hook of a server as the host does.
var hookCalls = map[string]func(pluginv1.PluginServer) error{
	"manifest": func(s pluginv1.PluginServer) error {
		_, err := s.Manifest(context.Background(), &pluginv1.ManifestRequest{})
		return err
	},
	"activate": func(s pluginv1.PluginServer) error {
		_, err := s.Activate(context.Background(), &pluginv1.InstallRequest{})
		return err
	},
	"deactivate": func(s pluginv1.PluginServer) error {
		_, err := s.Deactivate(context.Background(), &pluginv1.InstallRequest{})
		return err
	},
	"settings": func(s pluginv1.PluginServer) error {
		_, err := s.ValidateSettings(context.Background(), &pluginv1.SettingsRequest{SettingsJson: []byte(`{}`)})
		return err
	},
	"policy": func(s pluginv1.PluginServer) error {
		_, err := s.Policy(context.Background(), &pluginv1.PolicyRequest{PolicyJson: []byte(`{}`)})
		return err
	},
	"before_write": func(s pluginv1.PluginServer) error {
		_, err := s.BeforeWrite(context.Background(), &pluginv1.WriteRequest{})
		return err
	},
	"after_write": func(s pluginv1.PluginServer) error {
		_, err := s.AfterWrite(context.Background(), &pluginv1.WriteEvent{})
		return err
	},
}

func TestPanickingHooks(t *testing.T) {
	for hook := range hookCalls {
		t.Run(hook, func(t *testing.T) {
			s, log := testServer(t, panicky{in: hook})
			err := hookCalls[hook](s)
			if !wire.IsFault(err) {
				t.Fatalf("got %v, want a fault", err)
			}
			name := "plugin panicky"
			if hook == "manifest" {
				name = "the plugin" // it cannot say who it is
			}
			if !strings.Contains(err.Error(), name+" failed in its "+hook+" hook") {
				t.Errorf("message: %v", err)
			}
			lines := logLines(t, log)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1", len(lines))
			}
			if e := lines[0]; e["@level"] != "error" || e["hook"] != hook || e["panic"] != "boom in "+hook ||
				!strings.Contains(fmt.Sprint(e["stack"]), "sdk.panicky.boom") {
				t.Fatalf("log: %v", e)
			}
			// The other hooks still answer.
			for other, call := range hookCalls {
				if other != hook {
					if err := call(s); err != nil {
						t.Errorf("%s after a panic in %s: %v", other, hook, err)
					}
				}
			}
		})
	}
}

func TestHookErrorsAreNotFaults(t *testing.T) {
	// A hook's own error is the plugin's answer, not a failure of the call.
	if wire.IsFault(hookError(fmt.Errorf("the host is down"))) {
		t.Fatal("a hook's error passes for a fault")
	}
	if !wire.IsFault(fmt.Errorf("plugin x: policy: %w", wire.Fault("boom"))) {
		t.Fatal("a wrapped fault is not recognised")
	}
}
