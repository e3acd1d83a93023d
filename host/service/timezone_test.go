package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// TestTimezoneSetting: an install's time zone is UTC until an admin sets
// another IANA name; a name the IANA database does not have, "" and
// "Local" are refused naming the key and the value, and change nothing;
// plugins are told the zone with the install, the new one from the next
// request of a caller who was signed in before the change; nothing
// crosses installs.
func TestTimezoneSetting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, err := service.New(db)
		if err != nil {
			t.Fatal(err)
		}
		withPlugins(t, svc, readerPackage)
		acme, err := svc.CreateInstall(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		globex, err := svc.CreateInstall(ctx, "globex", "")
		if err != nil {
			t.Fatal(err)
		}
		setActive(t, db, acme.ID, true, "reader")
		setActive(t, db, globex.ID, true, "reader")
		admin := login(t, svc, acme, "admin@acme.test", crm.RoleAdmin)
		alice := login(t, svc, acme, "alice@acme.test", crm.RoleMember)
		mallory := login(t, svc, globex, "mallory@globex.test", crm.RoleAdmin)

		// told is the time zone the reader plugin is given with p's install.
		told := func(p crm.Principal) string {
			t.Helper()
			resp, err := svc.PluginHTTP(ctx, p, "reader", service.PluginRequest{Method: "GET", Path: "/install"})
			if err != nil || resp.Status != 200 {
				t.Fatalf("GET /install: %+v, %v", resp, err)
			}
			var in sdk.Install
			if err := json.Unmarshal(resp.Body, &in); err != nil {
				t.Fatal(err)
			}
			return in.Timezone
		}
		zone := func(p crm.Principal) string {
			t.Helper()
			s, err := svc.Settings(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			return s.Timezone
		}
		if got := zone(alice); got != "UTC" {
			t.Fatalf("a new install's time zone: %q, want UTC", got)
		}
		if got := told(alice); got != "UTC" {
			t.Fatalf("the plugin was told %q, want UTC", got)
		}

		for _, bad := range []string{"", "Local", "Mars/Olympus_Mons", "utc", "Europe/Berlin ", "../../etc/passwd", "/usr/share/zoneinfo/UTC",
			"Europe/Berlin\x00", strings.Repeat("Europe/", 40)} {
			_, err := svc.UpdateSettings(ctx, admin, service.SettingsChange{Timezone: &bad})
			wantCode(t, err, "invalid_settings")
			want := "timezone: must be the name of a time zone of the IANA database"
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "got \"") {
				t.Fatalf("%q: %q, want it to start %q and name the value", bad, err, want)
			}
		}
		if got := zone(alice); got != "UTC" {
			t.Fatalf("refused changes left the time zone %q", got)
		}

		auckland := "Pacific/Auckland"
		_, err = svc.UpdateSettings(ctx, alice, service.SettingsChange{Timezone: &auckland})
		wantCode(t, err, "admin_only")
		s, err := svc.UpdateSettings(ctx, admin, service.SettingsChange{Timezone: &auckland})
		if err != nil || s.Timezone != auckland || s.AssignBy != crm.AssignByOwners || !s.AssignmentEnabled {
			t.Fatalf("the change: %+v, %v", s, err)
		}
		if got := zone(alice); got != auckland {
			t.Fatalf("read back: %q", got)
		}
		// alice signed in before the change: the plugin hears of it from
		// her next request.
		if got := told(alice); got != auckland {
			t.Fatalf("after the change the plugin was told %q, want %s", got, auckland)
		}
		// Other settings changes keep it.
		by := crm.AssignByAdmins
		if s, err := svc.UpdateSettings(ctx, admin, service.SettingsChange{AssignBy: &by}); err != nil || s.Timezone != auckland {
			t.Fatalf("another change: %+v, %v", s, err)
		}
		if got, told := zone(mallory), told(mallory); got != "UTC" || told != "UTC" {
			t.Fatalf("acme's time zone reached globex: %q, told %q", got, told)
		}
	})
}
