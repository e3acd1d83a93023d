package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestSettingsWrittenBeforeTimezone: an install whose settings were
// stored before the timezone setting existed (no such key in its row)
// reads as UTC, its other settings as they were, on both stores.
func TestSettingsWrittenBeforeTimezone(t *testing.T) {
	for _, driver := range []string{store.DriverSQLite, store.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn, sqlDriver := storetest.SQLiteDSN(t), "sqlite"
			if driver == store.DriverMySQL {
				dsn, sqlDriver = storetest.MySQLDSN(t), "mysql"
			}
			db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			in := mustInstall(t, db, "acme")

			// The row as an older crmguard wrote it.
			raw, err := sql.Open(sqlDriver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(ctx, "UPDATE crmguard_installs SET settings = ? WHERE id = ?",
				`{"assignment_enabled":false,"assign_by":"admins"}`, in.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.InstallByID(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := crm.Settings{AssignmentEnabled: false, AssignBy: crm.AssignByAdmins, Timezone: "UTC"}
			if got.Settings != want {
				t.Fatalf("got %+v, want %+v", got.Settings, want)
			}
		})
	}
}
