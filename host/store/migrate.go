package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
)

//go:embed migrations
var migrations embed.FS

// migrationTable is goose's version table, prefixed like every host table.
const migrationTable = "crmguard_schema_migrations"

// Migrate applies every pending migration. A lock makes it safe for several
// replicas to call it at once: one migrates, the others wait and find
// nothing left to do.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	provider, err := db.migrationProvider(log)
	if err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// SchemaVersion returns the version of the newest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	provider, err := db.migrationProvider(slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	return provider.GetDBVersion(ctx)
}

func (db *DB) migrationProvider(log *slog.Logger) (*goose.Provider, error) {
	dir := "migrations/" + db.driver
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations %s: %w", dir, err)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	}
	lockOpt, err := db.dialect.migrationLock()
	if err != nil {
		return nil, err
	}
	if lockOpt != nil {
		opts = append(opts, lockOpt)
	}
	provider, err := goose.NewProvider(db.dialect.gooseDialect(), db.sql, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return provider, nil
}

// mysqlLocker holds a MySQL named lock for the connection's session; the
// server drops it if the process dies, so a crash never leaves it behind.
// MariaDB and MySQL 8 both have GET_LOCK.
type mysqlLocker struct{}

// lockWait bounds how long a replica waits for another one's migrations.
const lockWait = 5 * time.Minute

// The lock name covers the database, so that installs on one server in
// separate databases do not wait for each other.
const mysqlLockName = "CONCAT('crmguard_migrate_', LEFT(SHA1(COALESCE(DATABASE(), '')), 32))"

func (mysqlLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlLockName+", ?)", int(lockWait.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("store: migration lock: another process held it for over 5 minutes")
	}
	return nil
}

func (mysqlLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "DO RELEASE_LOCK("+mysqlLockName+")")
	return err
}
