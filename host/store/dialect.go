package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// dialect holds what differs between MySQL and SQLite. Everything else, the
// SQL of every query included, is shared: both take "?" placeholders.
type dialect interface {
	// forUpdate is appended to a SELECT that locks the rows it reads for the
	// rest of the transaction.
	forUpdate() string
	gooseDialect() goose.Dialect
	// migrationOptions are the goose options the dialect needs.
	migrationOptions() []goose.ProviderOption
	// unionBranches says whether a list filtered by an OR of branches is
	// better run as a UNION of one indexed query per branch.
	unionBranches() bool
	// lockMigrations keeps other processes from migrating the same database
	// until unlock is called.
	lockMigrations(ctx context.Context, db *sql.DB) (unlock func(), err error)
}

type mysqlDialect struct{}

func (mysqlDialect) forUpdate() string { return " FOR UPDATE" }

// MySQL plans "owner_id = ? OR owner_id IS NULL ... ORDER BY id LIMIT" as a
// scan of the whole type; one range per branch reads only what it returns.
func (mysqlDialect) unionBranches() bool         { return true }
func (mysqlDialect) gooseDialect() goose.Dialect { return goose.DialectMySQL }

// MySQL commits DDL implicitly, so a transaction that creates a table and
// then writes to it can half-succeed; goose is told to keep them apart.
func (mysqlDialect) migrationOptions() []goose.ProviderOption {
	return []goose.ProviderOption{goose.WithIsolateDDL(true)}
}

func (mysqlDialect) lockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	return lockMySQL(ctx, db)
}

type sqliteDialect struct {
	path string // the database file; empty for an in-memory database
}

// SQLite transactions here are IMMEDIATE (see sqliteParams): the first
// statement already holds the write lock, so no row lock is needed.
func (sqliteDialect) forUpdate() string                        { return "" }
func (sqliteDialect) unionBranches() bool                      { return false }
func (sqliteDialect) gooseDialect() goose.Dialect              { return goose.DialectSQLite3 }
func (sqliteDialect) migrationOptions() []goose.ProviderOption { return nil }

// lockMigrations also switches the file to WAL mode, under the lock,
// because changing the journal mode while another process connects fails.
func (d sqliteDialect) lockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	if d.path == "" {
		return func() {}, nil // an in-memory database belongs to one process
	}
	unlock, err := lockFile(ctx, d.path+".migrate-lock")
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		unlock()
		return nil, fmt.Errorf("sqlite WAL mode: %w", err)
	}
	return unlock, nil
}
