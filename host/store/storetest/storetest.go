// Package storetest opens real stores for tests: an SQLite file in a
// temporary directory, and a fresh database on the MySQL server named by
// CRMGUARD_TEST_MYSQL_DSN, dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/store"
)

// DefaultMySQLDSN is the server the tests use when CRMGUARD_TEST_MYSQL_DSN
// is not set.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// Counted opens a migrated store of the given driver ("sqlite" or
// "mysql") whose statements are counted in n.
func Counted(tb testing.TB, driver string, n *atomic.Int64) *store.DB {
	tb.Helper()
	return Observed(tb, driver, func() { n.Add(1) })
}

// Observed opens a migrated store of the given driver ("sqlite" or
// "mysql") that calls on before each statement it runs outside a
// transaction.
func Observed(tb testing.TB, driver string, on func()) *store.DB {
	tb.Helper()
	dsn := SQLiteDSN(tb)
	if driver == store.DriverMySQL {
		dsn = MySQLDSN(tb)
	}
	return openWith(tb, driver, dsn, store.Options{MaxOpenConns: 8, OnStatement: on})
}

// Each runs fn as a subtest once per store: SQLite, then MySQL.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
}

// SQLite returns a migrated store in a file of the test's temporary
// directory.
func SQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return open(tb, store.DriverSQLite, SQLiteDSN(tb))
}

// SQLiteDSN returns the DSN of a new SQLite file in the test's temporary
// directory.
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "crmguard.db")
}

// MySQL returns a migrated store in a database of its own.
func MySQL(tb testing.TB) *store.DB {
	tb.Helper()
	return open(tb, store.DriverMySQL, MySQLDSN(tb))
}

// MySQLDSN creates an empty database on the test server and returns a DSN
// for it; the database is dropped when the test ends. Without a reachable
// server the test is skipped, or fails when CRMGUARD_TEST_REQUIRE_SERVICES=1.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("CRMGUARD_TEST_MYSQL_DSN")
	if base == "" {
		base = DefaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("CRMGUARD_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("open mysql: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		Unavailable(tb, "MySQL at "+cfg.Addr, err)
	}
	name := "crmguard_test_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		drop, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
			return
		}
		defer drop.Close()
		if _, err := drop.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// ListedIDs lists every page of q, q.Limit records a page, and returns
// the records' ids in the order listed.
func ListedIDs(tb testing.TB, db *store.DB, q store.RecordQuery) []string {
	tb.Helper()
	var ids []string
	for {
		page, err := db.ListRecords(context.Background(), q)
		if err != nil {
			tb.Fatalf("list records: %v", err)
		}
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if len(page) < q.Limit {
			return ids
		}
		q.Before = page[len(page)-1].ID
	}
}

// Unavailable skips the test because a service it needs cannot be reached,
// or fails it when the run requires services (CRMGUARD_TEST_REQUIRE_SERVICES=1),
// so that CI never passes by skipping.
func Unavailable(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CRMGUARD_TEST_REQUIRE_SERVICES") == "1" {
		tb.Fatalf("%s is unreachable and CRMGUARD_TEST_REQUIRE_SERVICES=1: %v", what, err)
	}
	tb.Skipf("%s is unreachable, skipping (set CRMGUARD_TEST_REQUIRE_SERVICES=1 to fail instead): %v", what, err)
}

func open(tb testing.TB, driver, dsn string) *store.DB {
	tb.Helper()
	return openWith(tb, driver, dsn, store.Options{MaxOpenConns: 8})
}

func openWith(tb testing.TB, driver, dsn string, opts store.Options) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, driver, dsn, opts)
	if err != nil {
		tb.Fatalf("open %s store: %v", driver, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatalf("migrate %s store: %v", driver, err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CRMSchema is the path of a real CRM's schema shipped for adoption-mode
// tests (testing/fixtures/crm-schemas/NAME.sql).
func CRMSchema(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testing", "fixtures", "crm-schemas", name+".sql")
}

// LoadSQL runs a file of SQL statements, as it is, on the database of dsn.
func LoadSQL(tb testing.TB, dsn, path string) {
	tb.Helper()
	script, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(script)); err != nil {
		tb.Fatalf("load %s: %v", filepath.Base(path), err)
	}
}
