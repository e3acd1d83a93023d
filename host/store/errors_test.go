package store_test

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/crmguard/crmguard/host/store"
)

// TestUnavailable tells a database that could not carry a statement out
// (the API's 503) from a statement that failed (its 4xx, or a 500).
func TestUnavailable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"ConnectionLostMidQuery", fmt.Errorf("store: update record: %w", mysql.ErrInvalidConn), true},
		{"BadConnection", fmt.Errorf("store: begin: %w", driver.ErrBadConn), true},
		{"ServerShuttingDown", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"ConnectionKilled", &mysql.MySQLError{Number: 1927, Message: "Connection was killed"}, true},
		{"DeadlockVictim", fmt.Errorf("store: update record: %w", &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}), true},
		{"LockWaitTimeout", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, true},
		{"DuplicateKey", &mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{"NotFound", store.ErrNotFound, false},
		{"StaleVersion", store.ErrStaleVersion, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
