package store

import (
	"github.com/pressly/goose/v3"
)

// dialect holds what differs between MySQL and SQLite. Everything else, the
// SQL of every query included, is shared: both take "?" placeholders.
type dialect interface {
	// forUpdate is appended to a SELECT that locks the rows it reads for the
	// rest of the transaction.
	forUpdate() string
	gooseDialect() goose.Dialect
	// migrationLock returns the option that keeps two processes from
	// migrating the same database at once.
	migrationLock() (goose.ProviderOption, error)
}

type mysqlDialect struct{}

func (mysqlDialect) forUpdate() string           { return " FOR UPDATE" }
func (mysqlDialect) gooseDialect() goose.Dialect { return goose.DialectMySQL }
func (mysqlDialect) migrationLock() (goose.ProviderOption, error) {
	return goose.WithSessionLocker(mysqlLocker{}), nil
}

type sqliteDialect struct {
	path string // the database file; empty for an in-memory database
}

// SQLite transactions here are IMMEDIATE (see sqliteParams): the first
// statement already holds the write lock, so no row lock is needed.
func (sqliteDialect) forUpdate() string           { return "" }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (d sqliteDialect) migrationLock() (goose.ProviderOption, error) {
	if d.path == "" {
		return nil, nil // an in-memory database belongs to one process
	}
	return goose.WithLocker(&fileLocker{path: d.path + ".migrate-lock"}), nil
}
