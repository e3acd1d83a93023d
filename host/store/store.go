// Package store keeps crmguard's data in MySQL (the production store) or in
// SQLite (the embedded default), through plain database/sql. Both dialects
// share every query; the few differences live in dialect.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Drivers the store can open.
const (
	DriverMySQL  = "mysql"
	DriverSQLite = "sqlite"
)

// Errors the store returns for conditions callers act on.
var (
	// ErrNotFound means no row matched.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique key is already taken.
	ErrDuplicate = errors.New("store: duplicate key")
	// ErrReference means a referenced row (user, team, install) does not exist.
	ErrReference = errors.New("store: referenced row missing")
	// ErrStaleVersion means a record changed since the version the caller read.
	ErrStaleVersion = errors.New("store: stale version")
)

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	// OnStatement, when set, is called before every statement outside a
	// transaction and every transaction: for metrics, and for tests that
	// count what reaches the database.
	OnStatement func()
}

// DB is an open store. Its query methods run outside a transaction; use
// InTx for changes that touch more than one row.
type DB struct {
	Queries
	sql         *sql.DB
	driver      string
	onStatement func()
}

// Tx is a transaction; it has the same query methods as DB.
type Tx struct {
	Queries
}

// Queries are the store's statements, run on a pool or inside a transaction.
type Queries struct {
	q       querier
	dialect dialect
	// adoption, when set, is the install whose records live in an
	// adopted CRM's tables.
	adoption *adoption
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to the database and checks that it answers. It does not
// migrate; call Migrate.
func Open(ctx context.Context, driver, dsn string, opts Options) (*DB, error) {
	var (
		sqlDB *sql.DB
		d     dialect
		err   error
	)
	switch driver {
	case DriverMySQL:
		sqlDB, err = openMySQL(dsn)
		d = mysqlDialect{}
	case DriverSQLite:
		sqlDB, err = openSQLite(dsn)
		d = sqliteDialect{path: sqlitePath(dsn)}
	default:
		return nil, fmt.Errorf("store: unknown driver %q", driver)
	}
	if err != nil {
		return nil, err
	}
	if opts.MaxOpenConns > 0 {
		sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
		sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
	}
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	if isMemory(driver, dsn) {
		// Every connection to ":memory:" is a database of its own.
		sqlDB.SetMaxOpenConns(1)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", driver, err)
	}
	var q querier = sqlDB
	if opts.OnStatement != nil {
		q = observed{q: sqlDB, on: opts.OnStatement}
	}
	return &DB{Queries: Queries{q: q, dialect: d}, sql: sqlDB, driver: driver, onStatement: opts.OnStatement}, nil
}

// observed calls on before each statement it runs.
type observed struct {
	q  querier
	on func()
}

func (o observed) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	o.on()
	return o.q.ExecContext(ctx, query, args...)
}

func (o observed) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	o.on()
	return o.q.QueryContext(ctx, query, args...)
}

func (o observed) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	o.on()
	return o.q.QueryRowContext(ctx, query, args...)
}

func openMySQL(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: mysql DSN: %w", err)
	}
	// Found rows, not changed rows, so that an UPDATE that matched reports it.
	cfg.ClientFoundRows = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	// One round trip per statement rather than three (prepare, execute,
	// close): the driver escapes the arguments itself. It refuses to for
	// the few collations where that is unsafe; those keep prepared
	// statements.
	cfg.InterpolateParams = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		cfg.InterpolateParams = false
		connector, err = mysql.NewConnector(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("store: mysql DSN: %w", err)
	}
	return sql.OpenDB(connector), nil
}

// sqliteParams make the embedded store safe for a server: a busy timeout
// instead of immediate "database is locked" errors, foreign keys on, and
// IMMEDIATE transactions so that a read-then-write transaction never fails
// to upgrade its lock. WAL mode, which lets readers run beside the writer,
// is a property of the file and is set once, by Migrate.
var sqliteParams = []string{
	"_pragma=busy_timeout(10000)",
	"_pragma=synchronous(NORMAL)",
	"_pragma=foreign_keys(1)",
	"_txlock=immediate",
}

func openSQLite(dsn string) (*sql.DB, error) {
	name := dsn
	if !strings.HasPrefix(name, "file:") {
		name = "file:" + name
	}
	sep := "?"
	if strings.Contains(name, "?") {
		sep = "&"
	}
	db, err := sql.Open("sqlite", name+sep+strings.Join(sqliteParams, "&"))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	return db, nil
}

// sqlitePath returns the file behind an SQLite DSN, or "" for memory.
func sqlitePath(dsn string) string {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if path == "" || path == ":memory:" {
		return ""
	}
	return path
}

func isMemory(driver, dsn string) bool {
	return driver == DriverSQLite && (sqlitePath(dsn) == "" || strings.Contains(dsn, "mode=memory"))
}

// Driver returns the name of the driver the store was opened with.
func (db *DB) Driver() string { return db.driver }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// InTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise, so that a change is either whole or absent.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if db.onStatement != nil {
		db.onStatement()
	}
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", translate(err))
	}
	defer sqlTx.Rollback()
	if err := fn(&Tx{Queries{q: sqlTx, dialect: db.dialect, adoption: db.adoption}}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translate(err))
	}
	return nil
}

// InRetryableTx is InTx for a transaction that may run again from the
// start: when the database chooses it as a deadlock's victim (as InnoDB
// does with one of two transactions that insert new keys into the same
// gap of an index), it runs again after a short, random wait, so that the
// two do not meet again; five times in all. fn must change nothing
// outside the transaction but what it sets from its results.
func (db *DB) InRetryableTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.InTx(ctx, fn)
		if attempt == 5 || !deadlocked(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond)))):
		}
	}
}

// deadlocked reports whether err is the database's choice of a
// transaction as a deadlock's victim, rolled back whole.
func deadlocked(err error) bool {
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && myErr.Number == 1213 // ER_LOCK_DEADLOCK
}

// translate maps driver errors for unique and foreign keys to the store's
// own errors, keeping the original in the chain for logs.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1062: // ER_DUP_ENTRY
			return fmt.Errorf("%w: %v", ErrDuplicate, err)
		case 1452, 1216: // ER_NO_REFERENCED_ROW_2, ER_NO_REFERENCED_ROW
			return fmt.Errorf("%w: %v", ErrReference, err)
		}
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrDuplicate, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", ErrReference, err)
		}
	}
	return err
}

// Unavailable reports whether err means that the database could not carry
// a statement out just now, rather than that the statement was wrong: the
// connection broke or the server is going away (whether a write went
// through is then unknown), or InnoDB ended the transaction to break a
// deadlock or a lock wait (nothing of it was written). Trying again later
// is the answer to each.
func Unavailable(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1053, // ER_SERVER_SHUTDOWN
			1205, // ER_LOCK_WAIT_TIMEOUT
			1213, // ER_LOCK_DEADLOCK
			1927: // ER_CONNECTION_KILLED
			return true
		}
	}
	return false
}

// millis and fromMillis convert times at the store's edge: every time column
// holds Unix milliseconds in UTC.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
