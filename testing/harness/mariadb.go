package harness

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the private server's client

	"github.com/crmguard/crmguard/host/store/storetest"
)

// MariaDB is a MariaDB server of the test's own, on a port and a data
// directory of its own, that the test may stop, kill and start again
// without disturbing the shared test server other tests use.
type MariaDB struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMariaDB initialises a data directory and starts a MariaDB server on
// it, with the machine's mariadbd (Debian's mariadb-server package). It is
// stopped when the test ends. Without mariadbd the test is skipped, or
// fails under CRMGUARD_TEST_REQUIRE_SERVICES=1.
func StartMariaDB(tb testing.TB) *MariaDB {
	tb.Helper()
	server, err := exec.LookPath("mariadbd")
	if err != nil {
		server = "/usr/sbin/mariadbd"
	}
	install, err := exec.LookPath("mariadb-install-db")
	if _, statErr := os.Stat(server); err != nil || statErr != nil {
		storetest.Unavailable(tb, "a MariaDB server of the test's own (mariadbd, mariadb-install-db)", fmt.Errorf("not installed"))
	}
	dir, err := os.MkdirTemp("", "crmguard-mariadb-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	setup := exec.Command(install, "--no-defaults", "--datadir="+filepath.Join(dir, "data"), "--user="+currentUser(),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := setup.CombinedOutput(); err != nil {
		tb.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{Port: freePort(tb), dir: dir}
	m.start(tb, server)
	tb.Cleanup(func() { m.Stop(tb) })
	return m
}

// currentUser is the name mariadbd runs as: the test's own user.
func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (m *MariaDB) start(tb testing.TB, server string) {
	tb.Helper()
	m.cmd = exec.Command(server, "--no-defaults", "--datadir="+filepath.Join(m.dir, "data"),
		"--port="+fmt.Sprint(m.Port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "mysqld.sock"),
		"--pid-file="+filepath.Join(m.dir, "mysqld.pid"), "--user="+currentUser(),
		"--innodb-buffer-pool-size=64M", "--skip-log-bin", "--max-connections=500",
		"--log-error="+filepath.Join(m.dir, "error.log"))
	if err := m.cmd.Start(); err != nil {
		tb.Fatalf("start mariadbd: %v", err)
	}
	done := make(chan struct{})
	m.done = done
	go func(cmd *exec.Cmd) { cmd.Wait(); close(done) }(m.cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("mysql", m.DSN(""))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return
		}
		select {
		case <-done:
			tb.Fatalf("mariadbd exited while starting:\n%s", m.ErrorLog())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mariadbd did not answer within 60 s: %v\n%s", err, m.ErrorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DSN is the go-sql-driver DSN of a database on the server ("" for none).
func (m *MariaDB) DSN(database string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?parseTime=true&multiStatements=true", m.Port, database)
}

// CreateDatabase creates an empty database and returns its DSN.
func (m *MariaDB) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", m.Port, name)
}

// Stop shuts the server down cleanly (SIGTERM) and waits until it is gone.
func (m *MariaDB) Stop(tb testing.TB) {
	tb.Helper()
	m.signal(tb, syscall.SIGTERM)
}

// Kill ends the server at once (SIGKILL), as a crash does: InnoDB recovers
// what was committed when it starts again.
func (m *MariaDB) Kill(tb testing.TB) {
	tb.Helper()
	m.signal(tb, syscall.SIGKILL)
}

func (m *MariaDB) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	select {
	case <-m.done:
		return
	default:
	}
	m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(60 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
		tb.Errorf("mariadbd did not stop within 60 s of %v", sig)
	}
}

// Start starts the server again, on the same port and data, after Stop or
// Kill.
func (m *MariaDB) Start(tb testing.TB) {
	tb.Helper()
	m.start(tb, m.cmd.Path)
}

// ErrorLog is what the server wrote to its error log.
func (m *MariaDB) ErrorLog() string {
	raw, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	return string(raw)
}
