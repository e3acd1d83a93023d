package service_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestPluginSettings changes hello's settings: the host checks them
// against hello's settings schema, then hello checks them; nothing is
// stored unless both accept. Activation refuses settings that no longer
// match the schema.
func TestPluginSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		withHello(t, w.svc)
		stored := func(t *testing.T) (crm.PluginActivation, bool) {
			t.Helper()
			acts, err := db.PluginActivations(ctx, w.admin.Install.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range acts {
				if a.PluginID == "hello" {
					return a, true
				}
			}
			return crm.PluginActivation{}, false
		}

		const recordTypes = `"lead", "contact", "account", "opportunity" or "activity"`
		t.Run("InvalidSettings", func(t *testing.T) {
			for _, tc := range []struct {
				name, settings, want string
			}{
				{"NotAnObject", `["account"]`, "settings: must be a JSON object"},
				{"UnknownType", `{"hidden_types":["lemon"]}`, `settings of hello: hidden_types[0]: must be ` + recordTypes},
				{"HugeNumber", `{"hidden_types":[1e400]}`, `settings of hello: hidden_types[0]: must be ` + recordTypes},
				{"Typo", `{"hiden_types":["lead"]}`,
					"settings of hello: hiden_types: unknown setting; the settings are assign_to_creator, hidden_types, read_only_types and required_fields"},
				{"WrongType", `{"read_only_types":"account","hidden_types":[1,"lead"]}`,
					`settings of hello: hidden_types[0]: must be ` + recordTypes + `; read_only_types: must be a list of ` + recordTypes},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hello", json.RawMessage(tc.settings))
					wantCode(t, err, "invalid_settings")
					if got := err.Error(); got != tc.want {
						t.Fatalf("got %q, want %q", got, tc.want)
					}
					if a, ok := stored(t); ok {
						t.Fatalf("refused settings were stored: %s", a.Settings)
					}
				})
			}
		})
		t.Run("ValidSettings", func(t *testing.T) {
			want := `{"read_only_types":["account"],"hidden_types":[]}`
			if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hello", json.RawMessage(want)); err != nil {
				t.Fatal(err)
			}
			got, err := w.svc.PluginSettings(ctx, w.admin, "hello")
			if err != nil || string(got) != want {
				t.Fatalf("settings read back: %s, %v", got, err)
			}
		})
		t.Run("ActivationNeedsMatchingSettings", func(t *testing.T) {
			// Settings stored under an older, looser schema.
			old := crm.PluginActivation{InstallID: w.admin.Install.ID, PluginID: "hello",
				Settings: json.RawMessage(`{"hidden_types":["invoice"]}`), UpdatedAt: time.Now()}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.PutPluginActivation(ctx, old) }); err != nil {
				t.Fatal(err)
			}
			_, err := w.svc.SetPluginActive(ctx, w.admin, "hello", true)
			wantCode(t, err, "invalid_settings")
			const want = "settings of hello no longer match its settings schema (hidden_types[0]: must be " +
				recordTypes + "); change them before activating it"
			if err.Error() != want {
				t.Fatalf("got %q, want %q", err, want)
			}
			if a, _ := stored(t); a.Active {
				t.Fatal("activated with settings that do not match the schema")
			}
			if _, err := w.svc.UpdatePluginSettings(ctx, w.admin, "hello", json.RawMessage(`{"hidden_types":["activity"]}`)); err != nil {
				t.Fatal(err)
			}
			if st, err := w.svc.SetPluginActive(ctx, w.admin, "hello", true); err != nil || !st.Active {
				t.Fatalf("activation with fixed settings: %+v, %v", st, err)
			}
		})
		t.Run("DeactivationIgnoresSettings", func(t *testing.T) {
			a, _ := stored(t)
			a.Settings = json.RawMessage(`{"hidden_types":["invoice"]}`)
			if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.PutPluginActivation(ctx, a) }); err != nil {
				t.Fatal(err)
			}
			if st, err := w.svc.SetPluginActive(ctx, w.admin, "hello", false); err != nil || st.Active {
				t.Fatalf("deactivation: %+v, %v", st, err)
			}
		})
	})
}

// TestPluginWithoutRoutes: a request to the routes of an active plugin
// that has none is 404 no_route, in the host's error form.
func TestPluginWithoutRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		dir := t.TempDir()
		bin := filepath.Join(dir, "quiet")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/crmguard/crmguard/host/plugins/testdata/manifest").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		if err := os.WriteFile(bin+".json", []byte(`{"ID":"quiet","Name":"Quiet","Version":"1.0.0"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		rt, err := plugins.Start(ctx, plugins.Options{Dir: dir, Host: w.svc.PluginHost()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rt.Close)
		w.svc.UsePlugins(rt)
		if _, err := w.svc.SetPluginActive(ctx, w.admin, "quiet", true); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.PluginHTTP(ctx, w.alice, "quiet", service.PluginRequest{Method: "GET", Path: "/x", RawPath: "/x"})
		wantCode(t, err, "no_route")
	})
}
