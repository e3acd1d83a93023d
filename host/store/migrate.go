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

// lockWait bounds how long a replica waits for another one's migrations.
const lockWait = 5 * time.Minute

// Migrate applies every pending migration. A lock makes it safe for several
// replicas to call it at once: one migrates, the others wait and find
// nothing left to do. The lock covers all of goose's work, its first look
// at the version table included, which goose's own lockers leave unlocked.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	provider, err := db.migrationProvider(log)
	if err != nil {
		return err
	}
	unlock, err := db.dialect.lockMigrations(ctx, db.sql)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer unlock()
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
	opts = append(opts, db.dialect.migrationOptions()...)
	provider, err := goose.NewProvider(db.dialect.gooseDialect(), db.sql, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return provider, nil
}

// The MySQL lock name covers the database, so that crmguards on one server
// in separate databases do not wait for each other.
const mysqlLockName = "CONCAT('crmguard_migrate_', LEFT(SHA1(COALESCE(DATABASE(), '')), 32))"

// lockMySQL holds a MySQL named lock on a connection of its own; the server
// drops it if the process dies, so a crash never leaves it behind. MariaDB
// and MySQL 8 both have GET_LOCK.
func lockMySQL(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlLockName+", ?)", int(lockWait.Seconds())).Scan(&got); err != nil {
		conn.Close()
		return nil, err
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, errors.New("another process held it for over 5 minutes")
	}
	return func() {
		// Released even if ctx is done; closing the connection would too.
		conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+mysqlLockName+")")
		conn.Close()
	}, nil
}
