package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"
)

// Plugin is a crmguard extension: a manifest, and any of the hook
// interfaces (Activator, SettingsValidator, PolicyFilter, Router,
// BeforeWriter, AfterWriter). The host
// calls only the hooks a plugin implements. Serve it from main:
//
//	func main() { sdk.Serve(myPlugin{}) }
type Plugin interface {
	Manifest() Manifest
}

// Manifest says who a plugin is.
type Manifest struct {
	ID          string // [a-z0-9-]{3,64}, unique in a host
	Name        string
	Version     string
	Description string
	// Priority orders the policy chain: lower runs first; ties go by id.
	Priority int
	// SettingsSchema is a JSON Schema (draft 2020-12 unless its $schema
	// says otherwise) of the plugin's settings, which are always a JSON
	// object; empty means any object. It must be whole: $refs to other
	// documents are refused. The host checks every install's settings
	// against it before the plugin's SettingsValidator sees them.
	// DefaultSettings are the settings of a new activation ({} when
	// empty), and must match the schema.
	SettingsSchema  json.RawMessage
	DefaultSettings json.RawMessage
}

var pluginID = regexp.MustCompile(`^[a-z0-9-]{3,64}$`)

// ValidPluginID reports whether id is one a plugin may have: 3 to 64 of
// a-z, 0-9 and -.
func ValidPluginID(id string) bool { return pluginID.MatchString(id) }

// Validate reports what is wrong with a manifest: its id, name and
// version, a settings schema that does not compile, default settings that
// do not match it.
func (m Manifest) Validate() error {
	_, err := m.Compile()
	return err
}

// Compile validates the manifest as Validate does and returns its
// settings schema compiled, for checking settings against.
func (m Manifest) Compile() (*SettingsSchema, error) {
	if !pluginID.MatchString(m.ID) {
		return nil, fmt.Errorf("manifest: id %q must be 3 to 64 of a-z, 0-9 and -", m.ID)
	}
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("manifest of %s: name and version are required", m.ID)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"settings schema", m.SettingsSchema}, {"default settings", m.DefaultSettings}} {
		if len(f.raw) > 0 && !json.Valid(f.raw) {
			return nil, fmt.Errorf("manifest of %s: %s: not JSON", m.ID, f.name)
		}
	}
	schema, err := CompileSettingsSchema(m.SettingsSchema)
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: the settings schema does not compile: %w", m.ID, err)
	}
	defaults := m.DefaultSettings
	if len(defaults) == 0 {
		defaults = json.RawMessage(`{}`)
	}
	if err := schema.Validate(defaults); err != nil {
		return nil, fmt.Errorf("manifest of %s: the default settings do not match the settings schema: %w", m.ID, err)
	}
	return schema, nil
}

// Install is one CRM installation (a site) that may activate plugins.
type Install struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	// Timezone is the install's time zone, an IANA name ("Europe/Berlin");
	// empty means UTC. Dates people type ("2026-12-20") are days there.
	Timezone string `json:"timezone,omitempty"`
}

// User is who a policy is computed for.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	// Teams are the user's teams, the primary one first (the membership
	// marked primary, else the first made).
	Teams []string `json:"teams"`
	// Managers are the user's managers, nearest first; Reports everyone
	// who reports to the user, directly or not, by id.
	Managers []string `json:"managers"`
	Reports  []string `json:"reports"`
	// RolePeers are the other users of the install who have the user's
	// role, by id: for policies in which a role works as a team.
	RolePeers []string `json:"role_peers,omitempty"`
}

// Activator is called when an install activates or deactivates the plugin
// (the WordPress activation hooks). Both must be idempotent: the host may
// call them again after a failure.
type Activator interface {
	Activate(ctx context.Context, in Install, settings json.RawMessage) error
	Deactivate(ctx context.Context, in Install, settings json.RawMessage) error
}

// SettingsValidator rejects an install's settings; the error's message is
// shown to the user who sent them.
type SettingsValidator interface {
	ValidateSettings(ctx context.Context, in Install, settings json.RawMessage) error
}

// PolicyRequest is what a policy filter sees: the policy so far (the
// install's base policy, changed by the plugins before this one), the user
// and this plugin's settings for the install.
type PolicyRequest struct {
	Install  Install
	User     User
	Settings json.RawMessage
	Policy   Policy
}

// PolicyFilter changes a user's effective permissions (DESIGN §6). The
// result is cached until something it depends on changes, so it must
// depend only on the request.
type PolicyFilter interface {
	Policy(ctx context.Context, req PolicyRequest) (Policy, error)
}

// Router serves the plugin's own HTTP routes, under
// /v1/plugins/{id}/api/ on the host: a request to
// /v1/plugins/hello/api/stats reaches the handler as /stats. The host has
// authenticated the caller and removed their credentials; Caller tells
// who they are. Routes is called once, when the plugin starts.
type Router interface {
	Routes() http.Handler
}

// CallerInfo is who a request to the plugin's routes comes from, with the
// plugin's settings for the caller's install.
type CallerInfo struct {
	Install  Install
	User     User
	Settings json.RawMessage
	// Now is the host's clock when it forwarded the request: compare
	// grants' expiries with it, not with the plugin's own clock (an
	// operator may move the host's, to rehearse expiries).
	Now time.Time
}

type callerKey struct{}

// Caller returns who a request to the plugin's routes comes from.
func Caller(ctx context.Context) CallerInfo {
	c, _ := ctx.Value(callerKey{}).(CallerInfo)
	return c
}

// WithCaller returns a context that carries c, as the host's requests do;
// for tests of a plugin's routes.
func WithCaller(ctx context.Context, c CallerInfo) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Hook names, as manifests list them.
const (
	HookActivate = "activate"
	HookSettings = "settings"
	HookPolicy   = "policy"
	HookHTTP     = "http"
	HookBefore   = "before_write"
	HookAfter    = "after_write"
)

// Hooks lists the hooks p implements.
func Hooks(p Plugin) []string {
	var hooks []string
	if _, ok := p.(Activator); ok {
		hooks = append(hooks, HookActivate)
	}
	if _, ok := p.(SettingsValidator); ok {
		hooks = append(hooks, HookSettings)
	}
	if _, ok := p.(PolicyFilter); ok {
		hooks = append(hooks, HookPolicy)
	}
	if _, ok := p.(Router); ok {
		hooks = append(hooks, HookHTTP)
	}
	if _, ok := p.(BeforeWriter); ok {
		hooks = append(hooks, HookBefore)
	}
	if _, ok := p.(AfterWriter); ok {
		hooks = append(hooks, HookAfter)
	}
	return hooks
}
