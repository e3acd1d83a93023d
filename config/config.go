// Package config holds crmguard's configuration: one Config struct with
// defaults, layered from an optional YAML file, then CRMGUARD_* environment
// variables, then command-line flags, and validated with messages a person
// can act on.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
)

// Config is everything crmguard can be told at start.
type Config struct {
	// Addr is the host:port the HTTP API listens on.
	Addr string `koanf:"addr"`
	// Log shapes the structured log on stderr.
	Log LogConfig `koanf:"log"`
	// Database is where crmguard keeps its data.
	Database DatabaseConfig `koanf:"database"`
	// Redis is the shared cache; without it each process caches alone.
	Redis RedisConfig `koanf:"redis"`
	// Plugins says where extensions are found.
	Plugins PluginsConfig `koanf:"plugins"`
	// HTTP tunes the HTTP server.
	HTTP HTTPConfig `koanf:"http"`
}

// LogConfig shapes the log.
type LogConfig struct {
	// Level is the least severe level written: debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is text (for people) or json (for log collectors).
	Format string `koanf:"format"`
}

// DatabaseConfig says which database to use.
type DatabaseConfig struct {
	// Driver is "sqlite" (embedded, the default) or "mysql" (production).
	Driver string `koanf:"driver"`
	// DSN is the driver's own connection string: a file name for SQLite,
	// user:password@tcp(host:3306)/dbname for MySQL.
	DSN string `koanf:"dsn"`
	// MaxOpenConns bounds the connection pool.
	MaxOpenConns int `koanf:"max_open_conns"`
}

// RedisConfig says where Redis is.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db; empty means no Redis.
	URL string `koanf:"url"`
}

// PluginsConfig says where plugin executables live.
type PluginsConfig struct {
	// Dir is the directory whose executables are started as plugins.
	Dir string `koanf:"dir"`
}

// HTTPConfig tunes the HTTP server.
type HTTPConfig struct {
	// TrustedProxies are the addresses or CIDRs whose X-Forwarded-For is
	// believed; none by default, so the client is the TCP peer.
	TrustedProxies []string `koanf:"trusted_proxies"`
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Default returns the configuration used where nothing else is said: the
// embedded SQLite store in crmguard.db, no Redis, on 127.0.0.1:8080.
func Default() Config {
	return Config{
		Addr:     "127.0.0.1:8080",
		Log:      LogConfig{Level: "info", Format: "text"},
		Database: DatabaseConfig{Driver: "sqlite", DSN: "crmguard.db", MaxOpenConns: 20},
		Plugins:  PluginsConfig{Dir: "bin/plugins"},
		HTTP:     HTTPConfig{TrustedProxies: []string{}, ShutdownTimeout: 30 * time.Second},
	}
}

// RedisEnabled reports whether a Redis server is configured.
func (c Config) RedisEnabled() bool { return c.Redis.URL != "" }

// setting ties a key to its environment variable and flag.
type setting struct {
	key, env, flag, help string
}

// settings lists every key that can be set from the environment; keys with
// a flag can also be set on the command line.
var settings = []setting{
	{"addr", "CRMGUARD_ADDR", "addr", "address to listen on, host:port"},
	{"log.level", "CRMGUARD_LOG_LEVEL", "log-level", "log level: debug, info, warn or error"},
	{"log.format", "CRMGUARD_LOG_FORMAT", "log-format", "log format: text or json"},
	{"database.driver", "CRMGUARD_DB_DRIVER", "db-driver", `database driver: "sqlite" or "mysql"`},
	{"database.dsn", "CRMGUARD_DB_DSN", "db-dsn", "database DSN: an SQLite file, or user:password@tcp(host:3306)/dbname"},
	{"database.max_open_conns", "CRMGUARD_DB_MAX_OPEN_CONNS", "", ""},
	{"redis.url", "CRMGUARD_REDIS_URL", "redis-url", "Redis URL, redis://host:6379/0; empty for none"},
	{"plugins.dir", "CRMGUARD_PLUGIN_DIR", "plugin-dir", "directory of plugin executables"},
	{"http.trusted_proxies", "CRMGUARD_HTTP_TRUSTED_PROXIES", "", ""},
	{"http.shutdown_timeout", "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT", "", ""},
}

// ConfigEnv names the environment variable that points at the config file
// when --config is not given.
const ConfigEnv = "CRMGUARD_CONFIG"

// RegisterFlags adds the configuration flags to fs (used as persistent
// flags of the command line).
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env "+ConfigEnv+")")
	def := Default()
	defaults := map[string]string{
		"addr": def.Addr, "log.level": def.Log.Level, "log.format": def.Log.Format,
		"database.driver": def.Database.Driver, "database.dsn": def.Database.DSN,
		"redis.url": def.Redis.URL, "plugins.dir": def.Plugins.Dir,
	}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		help := fmt.Sprintf("%s (env %s", s.help, s.env)
		if d := defaults[s.key]; d != "" {
			help += ", default " + d
		}
		fs.String(s.flag, "", help+")")
	}
}

// Source is where Load reads from besides the file: the parsed flags
// (optional) and the environment (os.LookupEnv when nil).
type Source struct {
	Flags     *pflag.FlagSet
	LookupEnv func(string) (string, bool)
}

// Load layers defaults, the YAML file, the environment and the flags, and
// validates the result.
func Load(src Source) (Config, error) {
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(Default()), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: defaults: %w", err)
	}

	path := flagValue(src.Flags, "config")
	if path == "" {
		path, _ = lookup(ConfigEnv)
	}
	if path != "" {
		if err := loadFile(k, path); err != nil {
			return Config{}, err
		}
	}

	overrides := map[string]any{}
	var errs []error
	for _, s := range settings {
		if v, ok := lookup(s.env); ok {
			parsed, err := parseValue(s.key, v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (from %s): %w", s.key, s.env, err))
				continue
			}
			overrides[s.key] = parsed
		}
	}
	for _, s := range settings {
		if s.flag != "" && src.Flags != nil && src.Flags.Lookup(s.flag) != nil && src.Flags.Changed(s.flag) {
			overrides[s.key] = flagValue(src.Flags, s.flag)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}

	var cfg Config
	if err := unmarshal(k, &cfg); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if cfg.HTTP.TrustedProxies == nil {
		cfg.HTTP.TrustedProxies = []string{}
	}
	return cfg, cfg.Validate()
}

func loadFile(k *koanf.Koanf, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	fileK := koanf.New(".")
	if err := fileK.Load(file.Provider(path), yaml.Parser()); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	// Decoding the file alone with ErrorUnused names a misspelt key.
	var probe Config
	if err := unmarshal(fileK, &probe); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return k.Merge(fileK)
}

func unmarshal(k *koanf.Koanf, cfg *Config) error {
	err := k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
			),
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			Result:           cfg,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return errors.New(friendlyDecodeError(err.Error()))
	}
	return nil
}

// invalidKeys matches mapstructure's report of keys no field takes.
var invalidKeys = regexp.MustCompile(`'([^']*)' has invalid keys: (.*)`)

// friendlyDecodeError rewrites mapstructure's wording into the dotted key
// names a person writes in the file.
func friendlyDecodeError(msg string) string {
	var unknown []string
	for _, m := range invalidKeys.FindAllStringSubmatch(msg, -1) {
		for key := range strings.SplitSeq(m[2], ", ") {
			if m[1] != "" {
				key = m[1] + "." + key
			}
			unknown = append(unknown, strconv.Quote(key))
		}
	}
	if len(unknown) == 0 {
		return msg
	}
	sort.Strings(unknown)
	return "unknown key " + strings.Join(unknown, ", ") + "; see config/crmguard.example.yaml for every key"
}

// parseValue turns an environment value into the type its key holds, so
// that a bad number is reported with the variable's name.
func parseValue(key, v string) (any, error) {
	switch key {
	case "database.max_open_conns":
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("must be a whole number, got %q", v)
		}
		return n, nil
	case "http.shutdown_timeout":
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf(`must be a duration like "30s", got %q`, v)
		}
		return d.String(), nil
	case "http.trusted_proxies":
		var out []string
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return v, nil
}

func flagValue(fs *pflag.FlagSet, name string) string {
	if fs == nil || fs.Lookup(name) == nil {
		return ""
	}
	return fs.Lookup(name).Value.String()
}

func toMap(c Config) map[string]any {
	return map[string]any{
		"addr":                    c.Addr,
		"log.level":               c.Log.Level,
		"log.format":              c.Log.Format,
		"database.driver":         c.Database.Driver,
		"database.dsn":            c.Database.DSN,
		"database.max_open_conns": c.Database.MaxOpenConns,
		"redis.url":               c.Redis.URL,
		"plugins.dir":             c.Plugins.Dir,
		"http.trusted_proxies":    c.HTTP.TrustedProxies,
		"http.shutdown_timeout":   c.HTTP.ShutdownTimeout.String(),
	}
}

// Validate reports every setting that is out of range, each as
// "key: what is wrong".
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr: must be host:port, like 127.0.0.1:8080, got %q", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("addr: port must be a number from 0 to 65535, got %q", port)
	} else {
		_ = host // empty means every interface
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad(`log.level: must be "debug", "info", "warn" or "error", got %q`, c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad(`log.format: must be "text" or "json", got %q`, c.Log.Format)
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.DSN == "" {
			bad("database.dsn: required; for sqlite, the database file, like crmguard.db")
		}
	case "mysql":
		if c.Database.DSN == "" {
			bad("database.dsn: required; for mysql, user:password@tcp(host:3306)/dbname")
		} else if cfg, err := mysql.ParseDSN(c.Database.DSN); err != nil {
			// The DSN may hold a password: describe the problem, never echo it.
			bad("database.dsn: not a MySQL DSN; expected user:password@tcp(host:3306)/dbname")
		} else if cfg.DBName == "" {
			bad("database.dsn: names no database; expected user:password@tcp(host:3306)/dbname")
		}
	default:
		bad(`database.driver: must be "mysql" or "sqlite", got %q`, c.Database.Driver)
	}
	if c.Database.MaxOpenConns < 1 {
		bad("database.max_open_conns: must be at least 1, got %d", c.Database.MaxOpenConns)
	}
	if c.Redis.URL != "" {
		if _, err := redis.ParseURL(c.Redis.URL); err != nil {
			bad("redis.url: not a Redis URL; expected redis://[user:password@]host:6379/0 or rediss://...")
		}
	}
	if c.Plugins.Dir == "" {
		bad("plugins.dir: required, the directory of plugin executables")
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		bad("http.trusted_proxies[%d]: must be an IP address or CIDR, got %q", i, p)
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdown_timeout: must be more than 0, got %s", c.HTTP.ShutdownTimeout)
	}
	return errors.Join(errs...)
}
