package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/crmguard/crmguard/config"
)

// env is a fake environment for Load.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crmguard.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	got, err := config.Load(config.Source{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if want := config.Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got.Database.Driver != "sqlite" || got.Database.DSN != "crmguard.db" || got.Addr != "127.0.0.1:8080" || got.RedisEnabled() {
		t.Fatalf("defaults are not the embedded set-up: %+v", got)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "addr: 127.0.0.1:1111\ndatabase:\n  driver: mysql\n  dsn: u:p@tcp(db:3306)/file\nlog:\n  level: debug\n")

	t.Run("FileOverDefaults", func(t *testing.T) {
		got, err := config.Load(config.Source{Flags: flags(t, "--config", file), LookupEnv: env(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr != "127.0.0.1:1111" || got.Database.Driver != "mysql" || got.Log.Level != "debug" || got.Log.Format != "text" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("EnvOverFile", func(t *testing.T) {
		got, err := config.Load(config.Source{Flags: flags(t, "--config", file), LookupEnv: env(map[string]string{
			"CRMGUARD_ADDR": "127.0.0.1:2222", "CRMGUARD_DB_MAX_OPEN_CONNS": "7", "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT": "5s",
			"CRMGUARD_HTTP_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
		})})
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr != "127.0.0.1:2222" || got.Database.MaxOpenConns != 7 || got.HTTP.ShutdownTimeout != 5*time.Second ||
			!reflect.DeepEqual(got.HTTP.TrustedProxies, []string{"10.0.0.1", "192.168.0.0/16"}) || got.Log.Level != "debug" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("FlagsOverEnv", func(t *testing.T) {
		got, err := config.Load(config.Source{
			Flags:     flags(t, "--config", file, "--addr", "127.0.0.1:3333", "--db-driver", "sqlite", "--db-dsn", "x.db"),
			LookupEnv: env(map[string]string{"CRMGUARD_ADDR": "127.0.0.1:2222"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr != "127.0.0.1:3333" || got.Database.Driver != "sqlite" || got.Database.DSN != "x.db" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("ConfigFromEnv", func(t *testing.T) {
		got, err := config.Load(config.Source{Flags: flags(t), LookupEnv: env(map[string]string{"CRMGUARD_CONFIG": file})})
		if err != nil || got.Addr != "127.0.0.1:1111" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("ConfigFlagOverEnv", func(t *testing.T) {
		other := writeFile(t, "addr: 127.0.0.1:4444\n")
		got, err := config.Load(config.Source{Flags: flags(t, "--config", other), LookupEnv: env(map[string]string{"CRMGUARD_CONFIG": file})})
		if err != nil || got.Addr != "127.0.0.1:4444" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("EmptyEnvStillOverrides", func(t *testing.T) {
		withRedis := writeFile(t, "redis:\n  url: redis://127.0.0.1:6379/0\n")
		got, err := config.Load(config.Source{Flags: flags(t, "--config", withRedis), LookupEnv: env(map[string]string{"CRMGUARD_REDIS_URL": ""})})
		if err != nil || got.RedisEnabled() {
			t.Fatalf("CRMGUARD_REDIS_URL= left Redis on: %+v, %v", got, err)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   func(t *testing.T) config.Source
		wants []string
	}{
		{"UnknownKey", func(t *testing.T) config.Source {
			return config.Source{Flags: flags(t, "--config", writeFile(t, "databse:\n  driver: mysql\ndatabase:\n  drivr: x\n")), LookupEnv: env(nil)}
		}, []string{`unknown key "database.drivr", "databse"`}},
		{"MissingFile", func(t *testing.T) config.Source {
			return config.Source{Flags: flags(t, "--config", "/nonexistent/crmguard.yaml"), LookupEnv: env(nil)}
		}, []string{"config file /nonexistent/crmguard.yaml", "no such file"}},
		{"BadYAML", func(t *testing.T) config.Source {
			return config.Source{Flags: flags(t, "--config", writeFile(t, "addr: [\n")), LookupEnv: env(nil)}
		}, []string{"config file"}},
		{"BadEnvNumber", func(t *testing.T) config.Source {
			return config.Source{LookupEnv: env(map[string]string{"CRMGUARD_DB_MAX_OPEN_CONNS": "lots"})}
		}, []string{`database.max_open_conns (from CRMGUARD_DB_MAX_OPEN_CONNS): must be a whole number, got "lots"`}},
		{"BadEnvDuration", func(t *testing.T) config.Source {
			return config.Source{LookupEnv: env(map[string]string{"CRMGUARD_HTTP_SHUTDOWN_TIMEOUT": "soon"})}
		}, []string{"http.shutdown_timeout (from CRMGUARD_HTTP_SHUTDOWN_TIMEOUT)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(tc.src(t))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"Driver", func(c *config.Config) { c.Database.Driver = "postgres" }, `database.driver: must be "mysql" or "sqlite", got "postgres"`},
		{"Addr", func(c *config.Config) { c.Addr = "localhost" }, `addr: must be host:port`},
		{"Port", func(c *config.Config) { c.Addr = "127.0.0.1:99999" }, `addr: port must be a number from 0 to 65535, got "99999"`},
		{"LogLevel", func(c *config.Config) { c.Log.Level = "loud" }, `log.level: must be "debug", "info", "warn" or "error", got "loud"`},
		{"LogFormat", func(c *config.Config) { c.Log.Format = "xml" }, `log.format: must be "text" or "json", got "xml"`},
		{"EmptyDSN", func(c *config.Config) { c.Database.DSN = "" }, "database.dsn: required"},
		{"MySQLDSN", func(c *config.Config) { c.Database.Driver, c.Database.DSN = "mysql", "secret-password-here" }, "database.dsn: not a MySQL DSN"},
		{"MySQLNoDatabase", func(c *config.Config) { c.Database.Driver, c.Database.DSN = "mysql", "root@tcp(127.0.0.1:3306)/" }, "database.dsn: names no database"},
		{"Conns", func(c *config.Config) { c.Database.MaxOpenConns = 0 }, "database.max_open_conns: must be at least 1, got 0"},
		{"RedisURL", func(c *config.Config) { c.Redis.URL = "http://user:hunter2@x" }, "redis.url: not a Redis URL"},
		{"PluginDir", func(c *config.Config) { c.Plugins.Dir = "" }, "plugins.dir: required"},
		{"Proxy", func(c *config.Config) { c.HTTP.TrustedProxies = []string{"10.0.0.1", "proxy.local"} }, `http.trusted_proxies[1]: must be an IP address or CIDR, got "proxy.local"`},
		{"Shutdown", func(c *config.Config) { c.HTTP.ShutdownTimeout = 0 }, "http.shutdown_timeout: must be more than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			for _, secret := range []string{"secret-password-here", "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error echoes a secret: %v", err)
				}
			}
		})
	}
	t.Run("AllProblemsAtOnce", func(t *testing.T) {
		c := config.Default()
		c.Log.Level, c.Database.Driver = "loud", "postgres"
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "database.driver") {
			t.Fatalf("got %v, want both problems", err)
		}
	})
	t.Run("ValidMySQL", func(t *testing.T) {
		c := config.Default()
		c.Database.Driver, c.Database.DSN, c.Redis.URL = "mysql", "crm:pw@tcp(127.0.0.1:3306)/crmguard", "redis://127.0.0.1:6379/0"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestExampleFile checks that the documented example loads and states the
// defaults, so that it cannot drift from the code.
func TestExampleFile(t *testing.T) {
	got, err := config.Load(config.Source{Flags: flags(t, "--config", "crmguard.example.yaml"), LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if want := config.Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("example gives %+v, defaults are %+v", got, want)
	}
	raw, err := os.ReadFile("crmguard.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"CRMGUARD_ADDR", "CRMGUARD_LOG_LEVEL", "CRMGUARD_LOG_FORMAT", "CRMGUARD_DB_DRIVER", "CRMGUARD_DB_DSN",
		"CRMGUARD_DB_MAX_OPEN_CONNS", "CRMGUARD_REDIS_URL", "CRMGUARD_PLUGIN_DIR", "CRMGUARD_HTTP_TRUSTED_PROXIES", "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(string(raw), env) {
			t.Errorf("the example does not document %s", env)
		}
	}
}
