package harness

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CLI runs crmguard commands against one database.
type CLI struct {
	T   testing.TB
	Bin string
	// Env is the commands' environment: the test's, with the database set
	// and no config file or Redis unless the test adds them.
	Env []string
	// SocketDir is where the CLI's servers make their plugin socket
	// directories: a directory of the test's own, removed when it ends.
	SocketDir string
	// LogLines, when above 0, is how much of a server's log a failed test
	// shows: its last LogLines lines (all of it by default).
	LogLines int
}

// NewCLI returns the command line of crmguard on a database ("sqlite" or
// "mysql" with a DSN of the driver's), with env added to its environment.
//
// Its servers keep their plugin sockets in a directory of the test's own,
// apart from other hosts': a server killed with SIGKILL, as every server
// is when its test ends, leaves its sockets behind, which would otherwise
// pile up in the machine's shared directory.
func NewCLI(tb testing.TB, driver, dsn string, env ...string) *CLI {
	tb.Helper()
	sockets := shortTempDir(tb)
	return &CLI{T: tb, Bin: Binary(tb), SocketDir: sockets, Env: append(append(os.Environ(),
		"CRMGUARD_DB_DRIVER="+driver, "CRMGUARD_DB_DSN="+dsn, "CRMGUARD_CONFIG=", "CRMGUARD_REDIS_URL=",
		"CRMGUARD_PLUGIN_SOCKET_DIR="+sockets), env...)}
}

// shortTempDir is a temporary directory with a short path, as a parent of
// socket directories must be (a socket's path has a limit of about 100
// bytes, and t.TempDir's grow with the test's name).
func shortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "cgh")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Run returns the stdout, stderr and exit status of one command.
func (c *CLI) Run(args ...string) (stdout, stderr string, code int) {
	c.T.Helper()
	cmd := exec.Command(c.Bin, args...)
	cmd.Env = c.Env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		c.T.Fatalf("crmguard %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// Must runs a command that has to succeed and returns its stdout, trimmed.
func (c *CLI) Must(args ...string) string {
	c.T.Helper()
	out, errOut, code := c.Run(args...)
	if code != 0 {
		c.T.Fatalf("crmguard %v: exit %d: %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}

// CreateInstalls creates each install of slugs with the command line,
// with an admin, admin@<slug>.test, and a member <name>@<slug>.test for
// each name of members: the people most tests start from.
func (c *CLI) CreateInstalls(slugs []string, members ...string) {
	c.T.Helper()
	for _, slug := range slugs {
		c.Must("install", "create", slug)
		c.Must("user", "create", "--install", slug, "--email", "admin@"+slug+".test", "--role", "admin")
		for _, name := range members {
			c.Must("user", "create", "--install", slug, "--email", name+"@"+slug+".test")
		}
	}
}

// Login returns a client of the server at base with a new token of the
// user of install slug with that e-mail address, and the user's id, as
// GET /v1/me tells it.
func (c *CLI) Login(tb testing.TB, base, slug, email string) Client {
	tb.Helper()
	u := Client{T: tb, Base: base, Token: c.Must("token", "create", "--install", slug, "--email", email)}
	r := u.Must(200, "GET", "/v1/me", nil)
	user, _ := r.Object(tb)["user"].(map[string]any)
	if u.ID, _ = user["id"].(string); u.ID == "" {
		tb.Fatalf("GET /v1/me of %s names no user: %s", email, r.Body)
	}
	return u
}

// ServiceClient returns a client of the server at base with a new service
// token of install slug.
func (c *CLI) ServiceClient(tb testing.TB, base, slug string) Client {
	tb.Helper()
	return Client{T: tb, Base: base, Token: c.Must("token", "create", "--install", slug, "--service")}
}
