// Package sdktest helps plugin authors test their plugins: call a plugin
// value's hooks in-process exactly as the host would (through the
// protocol, JSON both ways), decide with the host's own evaluator, check
// the plugin against the rules every plugin must follow (Conformance), and
// build and run the plugin's binary for real through go-plugin (Run).
package sdktest

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/access"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// BasePolicy is the policy the host gives a user of an install with the
// default settings before any plugin runs: members see everything and
// change what they own or what is unassigned; admins do anything.
func BasePolicy(admin bool) sdk.Policy {
	role := crm.Role{Name: crm.RoleMember}
	if admin {
		role = crm.Role{Name: crm.RoleAdmin, Capabilities: []crm.Capability{crm.CapAdmin}}
	}
	return access.BasePolicy(crm.DefaultSettings(), role)
}

// Policy runs p's policy hook in-process as the host calls it, and fails
// the test if the hook fails or returns an invalid policy.
func Policy(tb testing.TB, p sdk.Plugin, req sdk.PolicyRequest) sdk.Policy {
	tb.Helper()
	out, err := policy(context.Background(), sdk.Server(p), req)
	if err != nil {
		tb.Fatalf("policy hook: %v", err)
	}
	return out
}

func policy(ctx context.Context, srv pluginv1.PluginServer, req sdk.PolicyRequest) (sdk.Policy, error) {
	raw, err := json.Marshal(req.Policy)
	if err != nil {
		return sdk.Policy{}, err
	}
	resp, err := srv.Policy(ctx, &pluginv1.PolicyRequest{
		Install:      sdk.WireInstall(req.Install),
		User:         sdk.WireUser(req.User),
		SettingsJson: req.Settings, PolicyJson: raw,
	})
	if err != nil {
		return sdk.Policy{}, err
	}
	var out sdk.Policy
	if err := json.Unmarshal(resp.GetPolicyJson(), &out); err != nil {
		return sdk.Policy{}, err
	}
	return out, out.Validate()
}

// Record is what a decision looks at of a record.
type Record struct {
	Type      sdk.RecordType
	ID        string
	OwnerID   string
	CreatedBy string
	TeamID    string
}

// Allowed decides, with the host's evaluator, whether a user with policy
// may take action on r now.
func Allowed(policy sdk.Policy, u sdk.User, action sdk.Action, r Record) bool {
	f := access.Facts{Type: r.Type, ID: r.ID, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy, TeamID: r.TeamID}
	return access.Evaluate(policy, access.Subject{UserID: u.ID, Teams: u.Teams}, action, f, time.Now()).Allowed
}

// Conformance checks what every plugin must do: a valid manifest and
// default settings its own validation accepts; the same policy for the
// same request; activation and deactivation that may be repeated; and
// errors that come back as errors, not crashes.
func Conformance(t *testing.T, p sdk.Plugin) {
	t.Helper()
	// Hooks may read the install through the host API: an empty fake
	// host's installs have the built-in roles and nothing else.
	ctx := sdk.WithHost(context.Background(), NewHost())
	m := p.Manifest()
	t.Run("Manifest", func(t *testing.T) {
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	in := sdk.Install{ID: crm.NewID(), Slug: "conformance"}
	settings := m.DefaultSettings
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	if v, ok := p.(sdk.SettingsValidator); ok {
		t.Run("DefaultSettingsAreValid", func(t *testing.T) {
			if err := v.ValidateSettings(ctx, in, settings); err != nil {
				t.Fatalf("the manifest's default settings are refused: %v", err)
			}
		})
		t.Run("BadSettingsAreExplained", func(t *testing.T) {
			host := NewHost()
			for _, key := range append(settingsKeys(m.SettingsSchema), "no_such_setting", "ctrl\x00") {
				for _, value := range exoticValues {
					raw := json.RawMessage(`{` + literal(key) + `:` + value + `}`)
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("settings %s made the plugin panic: %v", raw, r)
							}
						}()
						err := CheckSettings(ctx, p, host, in, raw)
						if err == nil {
							return
						}
						if err := CheckSettingsMessage(err.Error(), sdk.SettingsPath(key)); err != nil {
							t.Errorf("settings %.80s: %v", raw, err)
						}
					}()
				}
			}
		})
		t.Run("BadSettingsAreAnError", func(t *testing.T) {
			for _, bad := range []string{`[]`, `"x"`, `{"no such setting ` + crm.NewID() + `":1}`} {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("settings %s made the plugin panic: %v", bad, r)
						}
					}()
					if err := v.ValidateSettings(ctx, in, json.RawMessage(bad)); err == nil {
						t.Errorf("settings %s were accepted", bad)
					}
				}()
			}
		})
	}
	if _, ok := p.(sdk.PolicyFilter); ok {
		t.Run("PolicyIsDeterministic", func(t *testing.T) {
			for _, admin := range []bool{false, true} {
				req := sdk.PolicyRequest{Install: in, User: sdk.User{ID: crm.NewID(), Role: "member", Teams: []string{crm.NewID()}},
					Settings: settings, Policy: BasePolicy(admin)}
				first, err := policy(ctx, sdk.Server(p), req)
				if err != nil {
					t.Fatalf("policy hook: %v", err)
				}
				second, err := policy(ctx, sdk.Server(p), req)
				if err != nil || !reflect.DeepEqual(first, second) {
					t.Fatalf("the same request gave two policies (%v)", err)
				}
			}
		})
	}
	if a, ok := p.(sdk.Activator); ok {
		t.Run("ActivationIsIdempotent", func(t *testing.T) {
			for range 2 {
				if err := a.Activate(ctx, in, settings); err != nil {
					t.Fatalf("activate: %v", err)
				}
			}
			for range 2 {
				if err := a.Deactivate(ctx, in, settings); err != nil {
					t.Fatalf("deactivate: %v", err)
				}
			}
		})
	}
}

// Process is a plugin binary running for real, as the host runs it.
type Process struct {
	*plugins.Plugin
}

// Run builds the plugin's main package (an import path or a directory
// relative to the test's) and runs it through go-plugin, as the host
// would; it is stopped when the test ends.
func Run(tb testing.TB, pkg string) Process {
	tb.Helper()
	dir := tb.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "plugin"), pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	r, err := plugins.Start(context.Background(), plugins.Options{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	if problems := r.Problems(); len(problems) > 0 {
		tb.Fatalf("%s did not start: %s", pkg, problems[0].Error)
	}
	list := r.Plugins()
	if len(list) != 1 {
		tb.Fatalf("%s: %d plugins running", pkg, len(list))
	}
	return Process{list[0]}
}

// BeforeWrite runs p's before-write hook in-process as the host calls it,
// through the protocol, with host as the host API (nil: none). A refusal
// comes back as an *sdk.Denial.
func BeforeWrite(p sdk.Plugin, host sdk.Host, w sdk.Write) (sdk.WriteChange, error) {
	resp, err := sdk.ServerWithHost(p, host).BeforeWrite(context.Background(), sdk.WireWrite(w))
	if err != nil {
		return sdk.WriteChange{}, err
	}
	return sdk.WriteChangeOf(resp)
}

// AfterWrite delivers e to p's after-write hook in-process as the host's
// outbox does, with host as the host API. Deliver the same event twice to
// check that the hook is idempotent.
func AfterWrite(p sdk.Plugin, host sdk.Host, e sdk.WriteEvent) error {
	_, err := sdk.ServerWithHost(p, host).AfterWrite(context.Background(), sdk.WireWriteEvent(e))
	return err
}
