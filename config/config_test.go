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

// flags registers the config flags on a fresh set and parses args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadCase describes one Load call. In args and env values, {file} and
// {other} stand for the paths of the two YAML files and {dir} for the
// directory holding them.
type loadCase struct {
	name        string
	file, other string // YAML contents; "" writes no file
	env         map[string]string
	args        []string
}

func (c loadCase) source(t *testing.T) (config.Source, *strings.Replacer) {
	t.Helper()
	dir := t.TempDir()
	r := strings.NewReplacer(
		"{file}", filepath.Join(dir, "crmguard.yaml"),
		"{other}", filepath.Join(dir, "other.yaml"),
		"{dir}", dir,
	)
	if c.file != "" {
		writeFile(t, dir, "crmguard.yaml", c.file)
	}
	if c.other != "" {
		writeFile(t, dir, "other.yaml", c.other)
	}
	vars := map[string]string{}
	for k, v := range c.env {
		vars[k] = r.Replace(v)
	}
	var args []string
	for _, a := range c.args {
		args = append(args, r.Replace(a))
	}
	return config.Source{Flags: flags(t, args...), LookupEnv: env(vars)}, r
}

func TestDefault(t *testing.T) {
	want := config.Config{
		Addr:     "127.0.0.1:8080",
		Log:      config.LogConfig{Level: "info", Format: "text"},
		Database: config.DatabaseConfig{Driver: "sqlite", DSN: "crmguard.db", MaxOpenConns: 20},
		Redis:    config.RedisConfig{URL: "", Mode: "single"},
		Plugins: config.PluginsConfig{Dir: "bin/plugins", PolicyTimeout: 500 * time.Millisecond, HTTPTimeout: 5 * time.Second,
			MaxCallsPerInstall: 8, StableAfter: 30 * time.Second},
		HTTP:   config.HTTPConfig{TrustedProxies: nil, ShutdownTimeout: 30 * time.Second},
		Outbox: config.OutboxConfig{RetryFor: 24 * time.Hour},
		Adopt:  config.AdoptConfig{UserSync: 5 * time.Second},
	}
	if got := config.Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() = %+v, want %+v", got, want)
	}
	if config.Default().RedisEnabled() {
		t.Error("Redis is on by default")
	}

	for _, tc := range []struct {
		name string
		src  config.Source
	}{
		{"NoFlagsNoEnv", config.Source{LookupEnv: env(nil)}},
		{"FlagsRegisteredButUnset", config.Source{Flags: flags(t), LookupEnv: env(nil)}},
		{"UnregisteredFlagSet", config.Source{Flags: pflag.NewFlagSet("x", pflag.ContinueOnError), LookupEnv: env(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.Load(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Load = %+v, want the defaults %+v", got, want)
			}
		})
	}
}

func TestLoadLayers(t *testing.T) {
	const file = `
addr: 127.0.0.1:1111
log:
  level: debug
database:
  driver: mysql
  dsn: u:p@tcp(db:3306)/file
redis:
  url: redis://cache:6379/0
http:
  trusted_proxies: [10.0.0.1]
  shutdown_timeout: 1m
outbox:
  retry_for: 2h
operator:
  token: file-token-0123456789abcdefghijklmnop
`
	// fromFile is what the file above gives over the defaults.
	fromFile := func(c *config.Config) {
		c.Addr = "127.0.0.1:1111"
		c.Log.Level = "debug"
		c.Database.Driver, c.Database.DSN = "mysql", "u:p@tcp(db:3306)/file"
		c.Redis.URL = "redis://cache:6379/0"
		c.HTTP.TrustedProxies = []string{"10.0.0.1"}
		c.HTTP.ShutdownTimeout = time.Minute
		c.Outbox.RetryFor = 2 * time.Hour
		c.Operator.Token = "file-token-0123456789abcdefghijklmnop"
	}

	for _, tc := range []struct {
		loadCase
		want func(*config.Config)
	}{
		{loadCase{name: "FileOverDefaults", file: file, args: []string{"--config", "{file}"}}, fromFile},
		{loadCase{name: "EnvOverFile", file: file, args: []string{"--config", "{file}"}, env: map[string]string{
			"CRMGUARD_ADDR":                         "127.0.0.1:2222",
			"CRMGUARD_LOG_FORMAT":                   "json",
			"CRMGUARD_DB_DRIVER":                    "sqlite",
			"CRMGUARD_DB_DSN":                       "env.db",
			"CRMGUARD_DB_MAX_OPEN_CONNS":            " 7 ",
			"CRMGUARD_PLUGIN_DIR":                   "/opt/plugins",
			"CRMGUARD_PLUGIN_MAX_CALLS_PER_INSTALL": "3",
			"CRMGUARD_PLUGIN_STABLE_AFTER":          "2m",
			"CRMGUARD_PLUGIN_SOCKET_DIR":            "/run/crmguard",
			"CRMGUARD_HTTP_TRUSTED_PROXIES":         "10.0.0.2, 192.168.0.0/16,",
			"CRMGUARD_HTTP_SHUTDOWN_TIMEOUT":        "5s",
			"CRMGUARD_OUTBOX_RETRY_FOR":             "10m",
			"CRMGUARD_OPERATOR_TOKEN":               "env-token-0123456789abcdefghijklmnopq",
		}}, func(c *config.Config) {
			fromFile(c)
			c.Addr = "127.0.0.1:2222"
			c.Log.Format = "json"
			c.Database.Driver, c.Database.DSN, c.Database.MaxOpenConns = "sqlite", "env.db", 7
			c.Plugins.Dir = "/opt/plugins"
			c.Plugins.MaxCallsPerInstall, c.Plugins.StableAfter, c.Plugins.SocketDir = 3, 2*time.Minute, "/run/crmguard"
			c.HTTP.TrustedProxies = []string{"10.0.0.2", "192.168.0.0/16"}
			c.HTTP.ShutdownTimeout = 5 * time.Second
			c.Outbox.RetryFor = 10 * time.Minute
			c.Operator.Token = "env-token-0123456789abcdefghijklmnopq"
		}},
		{loadCase{name: "FlagsOverEnv", file: file, env: map[string]string{
			"CRMGUARD_ADDR": "127.0.0.1:2222", "CRMGUARD_LOG_LEVEL": "warn", "CRMGUARD_REDIS_URL": "redis://env:6379/1",
		}, args: []string{
			"--config", "{file}", "--addr", "127.0.0.1:3333", "--log-level", "error", "--log-format", "json",
			"--db-driver", "sqlite", "--db-dsn", "flag.db", "--redis-url", "redis://flag:6379/2", "--plugin-dir", "p",
		}}, func(c *config.Config) {
			fromFile(c)
			c.Addr = "127.0.0.1:3333"
			c.Log.Level, c.Log.Format = "error", "json"
			c.Database.Driver, c.Database.DSN = "sqlite", "flag.db"
			c.Redis.URL = "redis://flag:6379/2"
			c.Plugins.Dir = "p"
		}},
		{loadCase{name: "UnsetFlagsDoNotOverrideEnv", args: []string{"--log-level", "debug"},
			env: map[string]string{"CRMGUARD_ADDR": "127.0.0.1:2222"}},
			func(c *config.Config) { c.Addr, c.Log.Level = "127.0.0.1:2222", "debug" }},
		{loadCase{name: "EmptyEnvTurnsRedisOff", file: file, args: []string{"--config", "{file}"},
			env: map[string]string{"CRMGUARD_REDIS_URL": ""}},
			func(c *config.Config) { fromFile(c); c.Redis.URL = "" }},
		{loadCase{name: "EmptyEnvClearsTrustedProxies", file: file, args: []string{"--config", "{file}"},
			env: map[string]string{"CRMGUARD_HTTP_TRUSTED_PROXIES": ""}},
			func(c *config.Config) { fromFile(c); c.HTTP.TrustedProxies = nil }},
		{loadCase{name: "EmptyEnvTurnsOperatorEndpointsOff", file: file, args: []string{"--config", "{file}"},
			env: map[string]string{"CRMGUARD_OPERATOR_TOKEN": ""}},
			func(c *config.Config) { fromFile(c); c.Operator.Token = "" }},
		{loadCase{name: "NullKeysKeepDefaults", file: "database:\nplugins:\n  dir:\naddr: 127.0.0.1:1111\n", args: []string{"--config", "{file}"}},
			func(c *config.Config) { c.Addr = "127.0.0.1:1111" }},
		{loadCase{name: "EmptyFile", file: "# nothing\n", args: []string{"--config", "{file}"}},
			func(c *config.Config) {}},
		{loadCase{name: "ConfigFromEnv", file: file, env: map[string]string{"CRMGUARD_CONFIG": "{file}"}}, fromFile},
		{loadCase{name: "ConfigFlagOverConfigEnv", file: file, other: "addr: 127.0.0.1:4444\n",
			env: map[string]string{"CRMGUARD_CONFIG": "{file}"}, args: []string{"--config", "{other}"}},
			func(c *config.Config) { c.Addr = "127.0.0.1:4444" }},
		{loadCase{name: "EmptyConfigFlagIgnoresConfigEnv", file: file,
			env: map[string]string{"CRMGUARD_CONFIG": "{file}"}, args: []string{"--config="}},
			func(c *config.Config) {}},
		{loadCase{name: "EmptyConfigEnvMeansNoFile", env: map[string]string{"CRMGUARD_CONFIG": ""}},
			func(c *config.Config) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := tc.source(t)
			got, err := config.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			want := config.Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		loadCase
		want       string // the whole error, after substitution
		prefixOnly bool   // for messages worded by a library
	}{
		{loadCase{name: "UnknownKey", file: "databse:\n  driver: mysql\n", args: []string{"--config", "{file}"}},
			`config file {file}: unknown key "databse"`, false},
		{loadCase{name: "UnknownKeysNestedAndTop", file: "database:\n  drivr: x\n  dns: y\nlogs: {}\n", args: []string{"--config", "{file}"}},
			`config file {file}: unknown key "database.dns"` + "\n" +
				`config file {file}: unknown key "database.drivr"` + "\n" +
				`config file {file}: unknown key "logs"`, false},
		{loadCase{name: "KeyInWrongCase", file: "Addr: 0.0.0.0:80\n", args: []string{"--config", "{file}"}},
			`config file {file}: unknown key "Addr"`, false},
		{loadCase{name: "UnknownKeyNamedEvenWhenNull", file: "databse:\n", env: map[string]string{"CRMGUARD_CONFIG": "{file}"}},
			`config file {file}: unknown key "databse"`, false},
		{loadCase{name: "NotANumberInFile", file: "database:\n  max_open_conns: lots\n", args: []string{"--config", "{file}"}},
			`config file {file}: database.max_open_conns: must be a whole number, got "lots"`, false},
		{loadCase{name: "DurationWithoutUnitInFile", file: "http:\n  shutdown_timeout: 30\n", args: []string{"--config", "{file}"}},
			`config file {file}: http.shutdown_timeout: must be a duration with a unit, like "30s", got 30`, false},
		{loadCase{name: "ListWhereTextIsAsked", file: "addr: [a, b]\nadopt:\n  types: {lead: {owner: o}}\n", args: []string{"--config", "{file}"}},
			`config file {file}: addr: must be text, got a list` + "\n" +
				`config file {file}: adopt.types.lead.owner: must be a mapping of keys to values, got text`, false},
		{loadCase{name: "FileNotAMapping", file: "0\n", args: []string{"--config", "{file}"}},
			`config file {file}: must be a YAML mapping of keys to values, like "addr: 127.0.0.1:8080"`, false},
		{loadCase{name: "MappingAsKey", file: "{a: 1}: x\n", args: []string{"--config", "{file}"}},
			`config file {file}: yaml: a key must be text or a number, not a mapping or a list`, false},
		{loadCase{name: "MissingFileFromFlag", args: []string{"--config", "{dir}/missing.yaml"}},
			`config file {dir}/missing.yaml: no such file or directory`, false},
		{loadCase{name: "MissingFileFromEnv", env: map[string]string{"CRMGUARD_CONFIG": "{dir}/missing.yaml"}},
			`config file {dir}/missing.yaml: no such file or directory`, false},
		{loadCase{name: "UnreadableFile", args: []string{"--config", "{dir}"}},
			`config file {dir}: is a directory`, false},
		{loadCase{name: "BadYAML", file: "addr: [\n", args: []string{"--config", "{file}"}},
			`config file {file}: yaml: `, true},
		{loadCase{name: "BadEnvNumber", env: map[string]string{"CRMGUARD_DB_MAX_OPEN_CONNS": "lots"}},
			`env CRMGUARD_DB_MAX_OPEN_CONNS: database.max_open_conns: must be a whole number, got "lots"`, false},
		{loadCase{name: "EmptyEnvNumber", env: map[string]string{"CRMGUARD_DB_MAX_OPEN_CONNS": ""}},
			`env CRMGUARD_DB_MAX_OPEN_CONNS: database.max_open_conns: must be a whole number, got ""`, false},
		{loadCase{name: "BadEnvCallLimit", env: map[string]string{"CRMGUARD_PLUGIN_MAX_CALLS_PER_INSTALL": "many"}},
			`env CRMGUARD_PLUGIN_MAX_CALLS_PER_INSTALL: plugins.max_calls_per_install: must be a whole number, got "many"`, false},
		{loadCase{name: "BadEnvDuration", env: map[string]string{"CRMGUARD_HTTP_SHUTDOWN_TIMEOUT": "30"}},
			`env CRMGUARD_HTTP_SHUTDOWN_TIMEOUT: http.shutdown_timeout: must be a duration like "30s", got "30"`, false},
		{loadCase{name: "EveryBadEnvReported", env: map[string]string{"CRMGUARD_DB_MAX_OPEN_CONNS": "x", "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT": "y"}},
			`env CRMGUARD_DB_MAX_OPEN_CONNS: database.max_open_conns: must be a whole number, got "x"` + "\n" +
				`env CRMGUARD_HTTP_SHUTDOWN_TIMEOUT: http.shutdown_timeout: must be a duration like "30s", got "y"`, false},
		{loadCase{name: "ValidatesEnv", env: map[string]string{"CRMGUARD_DB_DRIVER": "postgres"}},
			`database.driver: must be "mysql" or "sqlite", got "postgres"`, false},
		{loadCase{name: "ShortOperatorTokenFromEnv", env: map[string]string{"CRMGUARD_OPERATOR_TOKEN": "s3cret-pw"}},
			"operator.token: must be at least 32 characters, like the output of `openssl rand -hex 32`, or empty to turn the operator endpoints off; got 9 characters (value not shown, it is a secret)", false},
		{loadCase{name: "ValidatesFlags", args: []string{"--log-level", "loud"}},
			`log.level: must be "debug", "info", "warn" or "error", got "loud"`, false},
		{loadCase{name: "ValidatesFile", file: "http:\n  shutdown_timeout: 0s\n", args: []string{"--config", "{file}"}},
			`http.shutdown_timeout: must be more than 0, like 30s, got 0s`, false},
		{loadCase{name: "OutboxRetryWithoutUnit", file: "outbox:\n  retry_for: 24\n", args: []string{"--config", "{file}"}},
			`config file {file}: outbox.retry_for: must be a duration with a unit, like "30s", got 24`, false},
		{loadCase{name: "OutboxRetryZeroFromEnv", env: map[string]string{"CRMGUARD_OUTBOX_RETRY_FOR": "0s"}},
			`outbox.retry_for: must be more than 0, like 24h, got 0s`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, r := tc.source(t)
			_, err := config.Load(src)
			if err == nil {
				t.Fatal("loaded without error")
			}
			want := r.Replace(tc.want)
			if tc.prefixOnly && !strings.HasPrefix(err.Error(), want) || !tc.prefixOnly && err.Error() != want {
				t.Fatalf("error\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   string // "" for valid
	}{
		{"Defaults", func(c *config.Config) {}, ""},
		{"ValidProduction", func(c *config.Config) {
			c.Addr = ":8080"
			c.Log.Level, c.Log.Format = "debug", "json"
			c.Database.Driver, c.Database.DSN = "mysql", "crm:pw@tcp(127.0.0.1:3306)/crmguard?parseTime=true"
			c.Redis.URL = "rediss://user:pw@cache:6380/2"
			c.HTTP.TrustedProxies = []string{"10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"}
		}, ""},
		{"OperatorToken", func(c *config.Config) { c.Operator.Token = strings.Repeat("s3cret-pw", 4) }, ""},
		{"OperatorTokenTooShort", func(c *config.Config) { c.Operator.Token = "s3cret-pw-" + strings.Repeat("x", 21) },
			"operator.token: must be at least 32 characters, like the output of `openssl rand -hex 32`, or empty to turn the operator endpoints off; got 31 characters (value not shown, it is a secret)"},
		{"OperatorTokenCountsCharactersNotBytes", func(c *config.Config) { c.Operator.Token = "s3cret-pw" + strings.Repeat("é", 22) },
			"operator.token: must be at least 32 characters, like the output of `openssl rand -hex 32`, or empty to turn the operator endpoints off; got 31 characters (value not shown, it is a secret)"},
		{"OperatorTokenPadded", func(c *config.Config) { c.Operator.Token = strings.Repeat("s3cret-pw", 4) + "\n" },
			`operator.token: must not start or end with white space (value not shown, it is a secret)`},
		{"PluginTimeout", func(c *config.Config) { c.Plugins.PolicyTimeout = 0 },
			`plugins.policy_timeout: must be more than 0, like 500ms, got 0s`},
		{"PluginCallLimit", func(c *config.Config) { c.Plugins.MaxCallsPerInstall = 0 },
			`plugins.max_calls_per_install: must be at least 1, got 0`},
		{"PluginStableAfter", func(c *config.Config) { c.Plugins.StableAfter = 0 },
			`plugins.stable_after: must be more than 0, like 30s, got 0s`},
		{"PluginChecksum", func(c *config.Config) { c.Plugins.Checksums = map[string]string{"hello": "abc"} },
			`plugins.checksums.hello: must be a SHA-256 in hex (64 characters), got "abc"`},
		{"Driver", func(c *config.Config) { c.Database.Driver = "postgres" },
			`database.driver: must be "mysql" or "sqlite", got "postgres"`},
		{"AddrWithoutPort", func(c *config.Config) { c.Addr = "localhost" },
			`addr: must be host:port, like 127.0.0.1:8080, got "localhost"`},
		{"PortTooBig", func(c *config.Config) { c.Addr = "127.0.0.1:65536" },
			`addr: port must be a number from 0 to 65535, got "65536"`},
		{"PortNamed", func(c *config.Config) { c.Addr = "127.0.0.1:http" },
			`addr: port must be a number from 0 to 65535, got "http"`},
		{"PortEmpty", func(c *config.Config) { c.Addr = "127.0.0.1:" },
			`addr: port must be a number from 0 to 65535, got ""`},
		{"LogLevel", func(c *config.Config) { c.Log.Level = "INFO" },
			`log.level: must be "debug", "info", "warn" or "error", got "INFO"`},
		{"LogFormat", func(c *config.Config) { c.Log.Format = "xml" },
			`log.format: must be "text" or "json", got "xml"`},
		{"EmptyDSN", func(c *config.Config) { c.Database.DSN = "" },
			`database.dsn: must not be empty (a file like crmguard.db for sqlite, user:password@tcp(host:3306)/dbname for mysql), got ""`},
		{"MySQLDSNUnparsable", func(c *config.Config) { c.Database.Driver, c.Database.DSN = "mysql", "root:s3cret-pw@db" },
			`database.dsn: not a MySQL DSN, missing the slash separating the database name; expected user:password@tcp(host:3306)/dbname (value not shown, it may hold a password)`},
		{"MySQLDSNBadParamWouldLeak", func(c *config.Config) { c.Database.Driver, c.Database.DSN = "mysql", "u:pw/x?timeout=s3cret-pw@db" },
			`database.dsn: not a MySQL DSN; expected user:password@tcp(host:3306)/dbname (value not shown, it may hold a password)`},
		{"MySQLDSNNoDatabase", func(c *config.Config) { c.Database.Driver, c.Database.DSN = "mysql", "root:s3cret-pw@tcp(db:3306)/" },
			`database.dsn: names no database; expected user:password@tcp(host:3306)/dbname (value not shown, it may hold a password)`},
		{"MaxOpenConns", func(c *config.Config) { c.Database.MaxOpenConns = 0 },
			`database.max_open_conns: must be at least 1, got 0`},
		{"RedisScheme", func(c *config.Config) { c.Redis.URL = "http://user:s3cret-pw@cache:6379" },
			`redis.url: invalid URL scheme: http; expected redis://[user:password@]host:6379/0, got "http://user:xxxxx@cache:6379"`},
		{"RedisUnparsable", func(c *config.Config) { c.Redis.URL = "redis://user:s3cret-pw@cache:port" },
			`redis.url: not a valid URL; expected redis://[user:password@]host:6379/0 (value not shown, it may hold a password)`},
		{"PluginDir", func(c *config.Config) { c.Plugins.Dir = "" },
			`plugins.dir: must name the directory of plugin executables, like bin/plugins, got ""`},
		{"TrustedProxy", func(c *config.Config) { c.HTTP.TrustedProxies = []string{"10.0.0.1", "proxy.local"} },
			`http.trusted_proxies[1]: must be an IP address or CIDR, like 10.0.0.0/8, got "proxy.local"`},
		{"ShutdownTimeout", func(c *config.Config) { c.HTTP.ShutdownTimeout = -time.Second },
			`http.shutdown_timeout: must be more than 0, like 30s, got -1s`},
		{"AllProblemsAtOnce", func(c *config.Config) {
			c.Log.Level, c.Database.Driver, c.Database.MaxOpenConns = "loud", "postgres", 0
		},
			`log.level: must be "debug", "info", "warn" or "error", got "loud"` + "\n" +
				`database.driver: must be "mysql" or "sqlite", got "postgres"` + "\n" +
				`database.max_open_conns: must be at least 1, got 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("the error echoes a password: %v", err)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flags(t)
	for _, tc := range []struct{ flag, env, def string }{
		{"config", "CRMGUARD_CONFIG", ""},
		{"addr", "CRMGUARD_ADDR", "127.0.0.1:8080"},
		{"log-level", "CRMGUARD_LOG_LEVEL", "info"},
		{"log-format", "CRMGUARD_LOG_FORMAT", "text"},
		{"db-driver", "CRMGUARD_DB_DRIVER", "sqlite"},
		{"db-dsn", "CRMGUARD_DB_DSN", "crmguard.db"},
		{"redis-url", "CRMGUARD_REDIS_URL", ""},
		{"plugin-dir", "CRMGUARD_PLUGIN_DIR", "bin/plugins"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			f := fs.Lookup(tc.flag)
			if f == nil {
				t.Fatal("not registered")
			}
			// pflag prints DefValue in the help as (default "...").
			if f.DefValue != tc.def {
				t.Errorf("default %q, want %q", f.DefValue, tc.def)
			}
			if !strings.Contains(f.Usage, tc.env) {
				t.Errorf("help %q does not name %s", f.Usage, tc.env)
			}
		})
	}
}

// TestExampleFile keeps the documented example honest: it loads, it
// states the defaults, and every key's comment gives its default and env.
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
	lines := strings.Split(string(raw), "\n")
	for _, tc := range []struct{ key, env string }{
		{"addr", "CRMGUARD_ADDR"},
		{"level", "CRMGUARD_LOG_LEVEL"},
		{"format", "CRMGUARD_LOG_FORMAT"},
		{"driver", "CRMGUARD_DB_DRIVER"},
		{"dsn", "CRMGUARD_DB_DSN"},
		{"max_open_conns", "CRMGUARD_DB_MAX_OPEN_CONNS"},
		{"url", "CRMGUARD_REDIS_URL"},
		{"dir", "CRMGUARD_PLUGIN_DIR"},
		{"policy_timeout", "CRMGUARD_PLUGIN_POLICY_TIMEOUT"},
		{"http_timeout", "CRMGUARD_PLUGIN_HTTP_TIMEOUT"},
		{"trusted_proxies", "CRMGUARD_HTTP_TRUSTED_PROXIES"},
		{"shutdown_timeout", "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT"},
		{"retry_for", "CRMGUARD_OUTBOX_RETRY_FOR"},
		{"token", "CRMGUARD_OPERATOR_TOKEN"},
		{"record_cache", "CRMGUARD_ADOPT_RECORD_CACHE"},
		{"user_sync", "CRMGUARD_ADOPT_USER_SYNC"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			// The comment is the run of # lines just above the key.
			var comment []string
			found := false
			for i, line := range lines {
				if strings.HasPrefix(strings.TrimSpace(line), tc.key+":") {
					for j := i - 1; j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
						comment = append(comment, lines[j])
					}
					found = true
					break
				}
			}
			if !found {
				t.Fatal("key not in the example")
			}
			text := strings.Join(comment, "\n")
			if !strings.Contains(text, tc.env) || !strings.Contains(text, "Default ") {
				t.Errorf("comment above %s does not give its default and %s:\n%s", tc.key, tc.env, text)
			}
		})
	}
}

func TestRedisMode(t *testing.T) {
	for _, tc := range []struct {
		mode, url, want string
	}{
		{"single", "redis://127.0.0.1:6379/0", ""},
		{"cluster", "redis://10.0.0.1:6379?addr=10.0.0.2:6379", ""},
		{"sentinel", "redis://10.0.0.1:26379?master_name=mymaster", ""},
		{"cluster", "", ""},
		{"ring", "redis://127.0.0.1:6379", `redis.mode: must be "single", "cluster" or "sentinel", got "ring"`},
		{"sentinel", "redis://10.0.0.1:26379", "redis.url:"},
	} {
		t.Run(tc.mode+" "+tc.url, func(t *testing.T) {
			c := config.Default()
			c.Redis.Mode, c.Redis.URL = tc.mode, tc.url
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPluginChecksumsFromFile(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	file := filepath.Join(t.TempDir(), "crmguard.yaml")
	if err := os.WriteFile(file, []byte("plugins:\n  checksums:\n    hello: "+sum+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(config.Source{Flags: flags(t, "--config", file), LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Plugins.Checksums["hello"] != sum || got.Plugins.Dir != "bin/plugins" {
		t.Fatalf("plugins: %+v", got.Plugins)
	}
}
