package e2e

import (
	"strings"
	"testing"

	"github.com/crmguard/crmguard/host/cache/cachetest"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// acme is install acme on MySQL, with an admin (admin@acme.test), served by
// two replicas of the host that share MySQL, Redis and a plugin directory.
type acme struct {
	t       *testing.T
	cli     cli
	dsn     string
	a, b    *server
	service user // the install's service token, on replica A
}

// startAcme builds the plugins named into the replicas' plugin directory
// and starts install acme.
func startAcme(t *testing.T, plugins ...string) acme {
	t.Helper()
	return startAcmeWith(t, nil, plugins...)
}

// startAcmeWith is startAcme with more of the hosts' environment.
func startAcmeWith(t *testing.T, env []string, plugins ...string) acme {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	redisSrv := cachetest.StartServer(t)
	c := newCLI(t, "mysql", dsn)
	c.env = append(c.env, "CRMGUARD_PLUGIN_DIR="+pluginDir(t, plugins...), "CRMGUARD_REDIS_URL=redis://"+redisSrv.Addr+"/0")
	c.env = append(c.env, env...)
	c.must("migrate")
	c.must("install", "create", "acme")
	c.must("user", "create", "--install", "acme", "--email", "admin@acme.test", "--role", "admin")
	app := strings.TrimSpace(c.must("token", "create", "--install", "acme", "--service"))
	a, b := c.serve(), c.serve()
	return acme{t: t, cli: c, dsn: dsn, a: a, b: b, service: user{t: t, base: a.base, token: app}}
}

// login is a user of acme with a fresh token, calling the replica at base.
func (s acme) login(email, base string) user {
	s.t.Helper()
	u := user{t: s.t, base: base, token: strings.TrimSpace(s.cli.must("token", "create", "--install", "acme", "--email", email))}
	u.id = u.must(200, "GET", "/v1/me", nil).object(s.t)["user"].(map[string]any)["id"].(string)
	return u
}
