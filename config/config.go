// Package config holds crmguard's configuration: one Config struct with
// defaults, layered from an optional YAML file, then CRMGUARD_* environment
// variables, then command-line flags, and validated with messages a person
// can act on.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
)

// Config is everything crmguard can be told at start. Build it with Load;
// Default gives the values used where nothing else is said.
type Config struct {
	// Addr is the host:port the HTTP API listens on.
	Addr string `koanf:"addr"`
	// Log shapes the structured log on stderr.
	Log LogConfig `koanf:"log"`
	// Database says where crmguard keeps its data.
	Database DatabaseConfig `koanf:"database"`
	// Redis is the shared cache; without it each process caches alone.
	Redis RedisConfig `koanf:"redis"`
	// Plugins says where extensions are found.
	Plugins PluginsConfig `koanf:"plugins"`
	// HTTP tunes the HTTP server.
	HTTP HTTPConfig `koanf:"http"`
	// Operator holds the credential of whoever runs the host, as opposed
	// to the users of its installs.
	Operator OperatorConfig `koanf:"operator"`
	// Mail is the SMTP server plugins' notifications go through; without
	// one they stay in the notifications outbox, readable through the API.
	Mail MailConfig `koanf:"mail"`
	// Clock moves the host's clock, to rehearse expiries.
	Clock ClockConfig `koanf:"clock"`
	// Adopt maps record types onto an existing CRM's tables; empty serves
	// crmguard's own records table.
	Adopt AdoptConfig `koanf:"adopt"`
}

// ClockConfig moves the host's clock.
type ClockConfig struct {
	// OffsetFile names a file holding a duration ("336h") added to the wall
	// clock, re-read within a tenth of a second: grants expire as they
	// would that much later, on every replica that reads the file. For
	// rehearsals and tests; empty (the default) is the wall clock.
	OffsetFile string `koanf:"offset_file"`
}

// MailConfig is an SMTP server to send notifications through.
type MailConfig struct {
	// SMTPAddr is the server's host:port; empty sends no mail.
	SMTPAddr string `koanf:"smtp_addr"`
	// From is the sender's address.
	From string `koanf:"from"`
	// Username and Password authenticate (PLAIN, over TLS only) when set.
	Username string `koanf:"username"`
	Password string `koanf:"password"`
}

// LogConfig shapes the log so it suits a person at a terminal or a log
// collector.
type LogConfig struct {
	// Level is the least severe level written: debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is text (for people) or json (for log collectors).
	Format string `koanf:"format"`
}

// DatabaseConfig says which database holds crmguard's data.
type DatabaseConfig struct {
	// Driver is "sqlite" (embedded, needs no set-up) or "mysql" (shared,
	// for production).
	Driver string `koanf:"driver"`
	// DSN is the driver's own connection string: a file name for SQLite,
	// user:password@tcp(host:3306)/dbname for MySQL.
	DSN string `koanf:"dsn"`
	// MaxOpenConns bounds the connection pool so crmguard cannot exhaust
	// the database server's connections.
	MaxOpenConns int `koanf:"max_open_conns"`
}

// RedisConfig says where the shared cache is, if there is one.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db (or rediss:// for TLS);
	// empty means no Redis. In cluster mode more nodes follow as
	// ?addr=host:port; in sentinel mode the hosts are sentinels and
	// ?master_name=NAME names the master.
	URL string `koanf:"url"`
	// Mode is single (one server, the default), cluster (Redis Cluster) or
	// sentinel (a master found through Sentinel).
	Mode string `koanf:"mode"`
}

// The Redis modes.
const (
	RedisSingle   = "single"
	RedisCluster  = "cluster"
	RedisSentinel = "sentinel"
)

// PluginsConfig says where plugin executables live and how long they may
// take to answer.
type PluginsConfig struct {
	// Dir is the directory whose executables are started as plugins.
	Dir string `koanf:"dir"`
	// PolicyTimeout bounds a policy or settings hook call; HTTPTimeout a
	// request to a plugin's routes.
	PolicyTimeout time.Duration `koanf:"policy_timeout"`
	HTTPTimeout   time.Duration `koanf:"http_timeout"`
	// Checksums pins plugin binaries by file name to their SHA-256 (hex).
	// When any is given, a binary that is not listed, or does not match,
	// is not started.
	Checksums map[string]string `koanf:"checksums"`
}

// HTTPConfig tunes the HTTP server.
type HTTPConfig struct {
	// TrustedProxies are the IP addresses or CIDRs whose X-Forwarded-For
	// header is believed. None by default, so a client cannot forge its
	// address and the client is always the TCP peer.
	TrustedProxies []string `koanf:"trusted_proxies"`
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM
	// before they are cut off.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// OperatorConfig holds the operator's credential.
type OperatorConfig struct {
	// Token authorises the operator endpoints under /v1/admin (restarting
	// a failed plugin). Empty turns them off. It is a secret: at least
	// MinOperatorTokenLen characters, never echoed in errors.
	Token string `koanf:"token"`
}

// MinOperatorTokenLen is the shortest operator token accepted, so that a
// token cannot be guessed within the failed-authentication rate limit.
const MinOperatorTokenLen = 32

// Default returns the configuration used where nothing else is said: the
// embedded SQLite store in crmguard.db, no Redis, listening on
// 127.0.0.1:8080 so a fresh install is not exposed to the network.
func Default() Config {
	return Config{
		Addr:     "127.0.0.1:8080",
		Log:      LogConfig{Level: "info", Format: "text"},
		Database: DatabaseConfig{Driver: "sqlite", DSN: "crmguard.db", MaxOpenConns: 20},
		Redis:    RedisConfig{Mode: RedisSingle},
		Plugins:  PluginsConfig{Dir: "bin/plugins", PolicyTimeout: 500 * time.Millisecond, HTTPTimeout: 5 * time.Second},
		HTTP:     HTTPConfig{ShutdownTimeout: 30 * time.Second},
		Adopt:    AdoptConfig{UserSync: 5 * time.Second},
	}
}

// RedisEnabled reports whether a Redis server is configured, so callers
// can choose between the shared and the in-process cache.
func (c Config) RedisEnabled() bool { return c.Redis.URL != "" }

// configEnv names the file when --config is not given.
const configEnv = "CRMGUARD_CONFIG"

// A setting ties a key to its environment variable and flag. The names are
// listed by hand, not derived, so that they stay short and stable when the
// struct is reorganised.
type setting struct {
	key   string                    // as written in the YAML file
	env   string                    // CRMGUARD_* variable
	flag  string                    // "" when the key has no flag
	help  string                    // flag help, without env and default
	get   func(Config) any          // the key's value, for the defaults layer
	parse func(string) (any, error) // env text to value; nil keeps the text
}

var settings = []setting{
	{key: "addr", env: "CRMGUARD_ADDR", flag: "addr",
		help: "host:port the HTTP API listens on",
		get:  func(c Config) any { return c.Addr }},
	{key: "log.level", env: "CRMGUARD_LOG_LEVEL", flag: "log-level",
		help: "least severe log level written: debug, info, warn or error",
		get:  func(c Config) any { return c.Log.Level }},
	{key: "log.format", env: "CRMGUARD_LOG_FORMAT", flag: "log-format",
		help: "log format: text or json",
		get:  func(c Config) any { return c.Log.Format }},
	{key: "database.driver", env: "CRMGUARD_DB_DRIVER", flag: "db-driver",
		help: "database driver: sqlite or mysql",
		get:  func(c Config) any { return c.Database.Driver }},
	{key: "database.dsn", env: "CRMGUARD_DB_DSN", flag: "db-dsn",
		help: "database DSN: an SQLite file, or user:password@tcp(host:3306)/dbname for mysql",
		get:  func(c Config) any { return c.Database.DSN }},
	{key: "database.max_open_conns", env: "CRMGUARD_DB_MAX_OPEN_CONNS",
		get:   func(c Config) any { return c.Database.MaxOpenConns },
		parse: parseInt},
	{key: "redis.url", env: "CRMGUARD_REDIS_URL", flag: "redis-url",
		help: "Redis URL like redis://host:6379/0; empty means no Redis",
		get:  func(c Config) any { return c.Redis.URL }},
	{key: "redis.mode", env: "CRMGUARD_REDIS_MODE",
		get: func(c Config) any { return c.Redis.Mode }},
	{key: "plugins.dir", env: "CRMGUARD_PLUGIN_DIR", flag: "plugin-dir",
		help: "directory of plugin executables",
		get:  func(c Config) any { return c.Plugins.Dir }},
	{key: "plugins.policy_timeout", env: "CRMGUARD_PLUGIN_POLICY_TIMEOUT",
		get:   func(c Config) any { return c.Plugins.PolicyTimeout },
		parse: parseDuration},
	{key: "plugins.http_timeout", env: "CRMGUARD_PLUGIN_HTTP_TIMEOUT",
		get:   func(c Config) any { return c.Plugins.HTTPTimeout },
		parse: parseDuration},
	{key: "mail.smtp_addr", env: "CRMGUARD_MAIL_SMTP_ADDR",
		get: func(c Config) any { return c.Mail.SMTPAddr }},
	{key: "mail.from", env: "CRMGUARD_MAIL_FROM",
		get: func(c Config) any { return c.Mail.From }},
	{key: "mail.username", env: "CRMGUARD_MAIL_USERNAME",
		get: func(c Config) any { return c.Mail.Username }},
	{key: "mail.password", env: "CRMGUARD_MAIL_PASSWORD",
		get: func(c Config) any { return c.Mail.Password }},
	{key: "http.trusted_proxies", env: "CRMGUARD_HTTP_TRUSTED_PROXIES",
		get:   func(c Config) any { return c.HTTP.TrustedProxies },
		parse: parseList},
	{key: "http.shutdown_timeout", env: "CRMGUARD_HTTP_SHUTDOWN_TIMEOUT",
		get:   func(c Config) any { return c.HTTP.ShutdownTimeout },
		parse: parseDuration},
	{key: "adopt.database", env: "CRMGUARD_ADOPT_DATABASE",
		get: func(c Config) any { return c.Adopt.Database }},
	{key: "adopt.user_sync", env: "CRMGUARD_ADOPT_USER_SYNC",
		get:   func(c Config) any { return c.Adopt.UserSync },
		parse: parseDuration},
	{key: "adopt.record_cache", env: "CRMGUARD_ADOPT_RECORD_CACHE",
		get:   func(c Config) any { return c.Adopt.RecordCache },
		parse: parseDuration},
	{key: "clock.offset_file", env: "CRMGUARD_CLOCK_OFFSET_FILE",
		get: func(c Config) any { return c.Clock.OffsetFile }},
	// No flag: a secret on the command line is visible to every local user.
	{key: "operator.token", env: "CRMGUARD_OPERATOR_TOKEN",
		get: func(c Config) any { return c.Operator.Token }},
}

// RegisterFlags adds --config and the configuration flags to fs, typically
// the persistent flags of the root command. Load reads back only the flags
// the user set, so the defaults shown in help never mask the file or env.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env "+configEnv+"; default none)")
	def := Default()
	for _, s := range settings {
		if s.flag != "" {
			fs.String(s.flag, fmt.Sprint(s.get(def)), s.help+" (env "+s.env+")")
		}
	}
}

// Source is what Load reads besides the defaults and the file: the parsed
// flags (may be nil) and the environment (nil means os.LookupEnv). Passing
// them in keeps Load free of global state, so tests can fake both.
type Source struct {
	// Flags are flags registered with RegisterFlags, already parsed.
	Flags *pflag.FlagSet
	// LookupEnv reads an environment variable; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load layers the defaults, the YAML file named by --config or
// CRMGUARD_CONFIG, the CRMGUARD_* environment and the flags the user set,
// each over the one before, and validates the result.
func Load(src Source) (Config, error) {
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}

	k := koanf.New(".")
	defaults := map[string]any{}
	for _, s := range settings {
		defaults[s.key] = s.get(Default())
	}
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return Config{}, fmt.Errorf("config defaults: %w", err)
	}

	// A --config given explicitly wins even when empty, so a user can
	// turn off a file named in the environment.
	path, _ := lookup(configEnv)
	if changed(src.Flags, "config") {
		path = src.Flags.Lookup("config").Value.String()
	}
	if path != "" {
		if err := loadFile(k, path); err != nil {
			return Config{}, err
		}
	}

	overrides := map[string]any{}
	var errs []error
	for _, s := range settings {
		text, ok := lookup(s.env)
		if !ok {
			continue // set but empty still overrides, e.g. CRMGUARD_REDIS_URL=
		}
		var v any = text
		if s.parse != nil {
			var err error
			if v, err = s.parse(text); err != nil {
				errs = append(errs, fmt.Errorf("env %s: %s: %w", s.env, s.key, err))
				continue
			}
		}
		overrides[s.key] = v
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	for _, s := range settings {
		if s.flag != "" && changed(src.Flags, s.flag) {
			overrides[s.key] = src.Flags.Lookup(s.flag).Value.String()
		}
	}
	if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}

	var cfg Config
	if err := decode(k, &cfg); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if len(cfg.HTTP.TrustedProxies) == 0 {
		cfg.HTTP.TrustedProxies = nil // one spelling of "none", as in Default
	}
	return cfg, cfg.Validate()
}

// changed reports whether the user set the flag, as opposed to it holding
// its default.
func changed(fs *pflag.FlagSet, name string) bool {
	return fs != nil && fs.Lookup(name) != nil && fs.Changed(name)
}

// loadFile merges the YAML file at path into k, after checking it on its
// own so that every error names the file.
func loadFile(k *koanf.Koanf, path string) error {
	fk := koanf.New(".")
	if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
		// The path is already in our prefix; keep only the reason.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("config file %s: %w", path, yamlWords(err))
	}
	var probe Config
	if err := decode(fk, &probe); err != nil {
		var errs []error
		for _, msg := range decodeProblems(err) {
			errs = append(errs, fmt.Errorf("config file %s: %s", path, msg))
		}
		return errors.Join(errs...)
	}
	// A key left empty ("database:" with its lines commented out) reads
	// as null; treat it as unset rather than wiping the defaults under it.
	set := map[string]any{}
	for key, v := range fk.All() {
		if v != nil {
			set[key] = v
		}
	}
	return k.Load(confmap.Provider(set, "."), nil)
}

// decode unmarshals k strictly: unknown keys are errors, so a misspelt key
// is reported instead of silently ignored.
func decode(k *koanf.Koanf, cfg *Config) error {
	return k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			// koanf's own hooks, bar its "1d" day syntax, plus a guard
			// against bare numbers, which would silently mean nanoseconds.
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				rejectBareDuration,
				mapstructure.StringToTimeDurationHookFunc(),
			),
			ErrorUnused:      true,
			WeaklyTypedInput: true, // as koanf's default: port: 8080 may be a string
			// Exact names only: mapstructure ignores case by default, and
			// "Addr" next to the default "addr" would then win at random.
			MatchName: func(key, field string) bool { return key == field },
			TagName:   "koanf",
		},
	})
}

var durationType = reflect.TypeFor[time.Duration]()

// rejectBareDuration refuses "shutdown_timeout: 30", which would otherwise
// decode as 30 nanoseconds.
func rejectBareDuration(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return nil, fmt.Errorf(`must be a duration with a unit, like "30s", got %v`, data)
	}
	return data, nil
}

// decodeProblems turns mapstructure's error tree into one message per
// problem, each starting with the dotted key a person writes in the file.
func decodeProblems(err error) []string {
	var de *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []string
		for _, inner := range e.Unwrap() {
			out = append(out, decodeProblems(inner)...)
		}
		return out
	case *mapstructure.DecodeError:
		de = e
	case interface{ Unwrap() error }:
		return decodeProblems(e.Unwrap())
	default:
		return []string{err.Error()}
	}

	reason, name := de.Unwrap(), keyOf(de.Name())
	if keys, ok := strings.CutPrefix(reason.Error(), "has invalid keys: "); ok {
		var out []string
		for key := range strings.SplitSeq(keys, ", ") {
			if name != "" {
				key = name + "." + key
			}
			out = append(out, fmt.Sprintf("unknown key %q", key))
		}
		return out
	}
	var pe *mapstructure.ParseError
	if errors.As(reason, &pe) {
		return []string{fmt.Sprintf("%s: must be %s, got %q", name, typeWords(pe.Expected.Type()), fmt.Sprint(pe.Value))}
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(reason, &ue) {
		return []string{fmt.Sprintf("%s: must be %s, got %s", name, typeWords(ue.Expected.Type()), valueWords(ue.Value))}
	}
	return []string{name + ": " + reasonWords(reason.Error())}
}

func parseInt(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("must be a whole number, got %q", s)
	}
	return n, nil
}

func parseDuration(s string) (any, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf(`must be a duration like "30s", got %q`, s)
	}
	return d, nil
}

// parseList splits a comma-separated list; an empty string is an empty
// list, so CRMGUARD_HTTP_TRUSTED_PROXIES= trusts no proxy.
func parseList(s string) (any, error) {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// The expected shapes of secrets-bearing values, given instead of echoing
// a value that may hold a password.
const (
	mysqlShape = "user:password@tcp(host:3306)/dbname"
	redisShape = "redis://[user:password@]host:6379/0"
)

// Validate reports every setting that is out of range, joined with
// errors.Join, each as "key: what is wrong, got X" so that all problems
// can be fixed in one go. Values that may hold a password are never
// echoed.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr: must be host:port, like 127.0.0.1:8080, got %q", c.Addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("addr: port must be a number from 0 to 65535, got %q", port)
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
	case "sqlite", "mysql":
	default:
		bad(`database.driver: must be "mysql" or "sqlite", got %q`, c.Database.Driver)
	}
	if c.Database.DSN == "" {
		bad(`database.dsn: must not be empty (a file like crmguard.db for sqlite, %s for mysql), got ""`, mysqlShape)
	} else if c.Database.Driver == "mysql" {
		if msg := checkMySQLDSN(c.Database.DSN); msg != "" {
			bad("database.dsn: %s; expected %s (value not shown, it may hold a password)", msg, mysqlShape)
		}
	}
	if c.Database.MaxOpenConns < 1 {
		bad("database.max_open_conns: must be at least 1, got %d", c.Database.MaxOpenConns)
	}
	parseRedis := map[string]func(string) error{
		RedisSingle:  func(u string) error { _, err := redis.ParseURL(u); return err },
		RedisCluster: func(u string) error { _, err := redis.ParseClusterURL(u); return err },
		RedisSentinel: func(u string) error {
			o, err := redis.ParseFailoverURL(u)
			if err == nil && o.MasterName == "" {
				err = errors.New("sentinel mode needs ?master_name=NAME")
			}
			return err
		},
	}
	parse, knownMode := parseRedis[c.Redis.Mode]
	if !knownMode {
		bad(`redis.mode: must be "single", "cluster" or "sentinel", got %q`, c.Redis.Mode)
	}
	if c.Redis.URL != "" && knownMode {
		// url.Parse errors quote the whole URL, password included, so
		// parse it first and only echo its redacted form.
		if u, err := url.Parse(c.Redis.URL); err != nil {
			bad("redis.url: not a valid URL; expected %s (value not shown, it may hold a password)", redisShape)
		} else if err := parse(c.Redis.URL); err != nil {
			bad("redis.url: %s; expected %s, got %q", strings.TrimPrefix(err.Error(), "redis: "), redisShape, u.Redacted())
		}
	}
	if c.Plugins.Dir == "" {
		bad(`plugins.dir: must name the directory of plugin executables, like bin/plugins, got ""`)
	}
	for i, p := range c.HTTP.TrustedProxies {
		// The same parsing gin's SetTrustedProxies uses, so what passes
		// here is accepted there.
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("http.trusted_proxies[%d]: must be an IP address or CIDR, like 10.0.0.0/8, got %q", i, p)
			}
		}
	}
	if c.Plugins.PolicyTimeout <= 0 {
		bad("plugins.policy_timeout: must be more than 0, like 500ms, got %s", c.Plugins.PolicyTimeout)
	}
	if c.Plugins.HTTPTimeout <= 0 {
		bad("plugins.http_timeout: must be more than 0, like 5s, got %s", c.Plugins.HTTPTimeout)
	}
	for name, sum := range c.Plugins.Checksums {
		if raw, err := hex.DecodeString(sum); err != nil || len(raw) != sha256.Size {
			bad("plugins.checksums.%s: must be a SHA-256 in hex (64 characters), got %q", name, sum)
		}
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdown_timeout: must be more than 0, like 30s, got %s", c.HTTP.ShutdownTimeout)
	}
	if c.Mail.SMTPAddr != "" {
		if _, port, err := net.SplitHostPort(c.Mail.SMTPAddr); err != nil || port == "" {
			bad("mail.smtp_addr: must be host:port, like smtp.example.com:587, got %q", c.Mail.SMTPAddr)
		}
		if _, err := mail.ParseAddress(c.Mail.From); err != nil {
			bad("mail.from: must be an e-mail address when mail.smtp_addr is set, like crm@example.com, got %q", c.Mail.From)
		}
	}
	if t := c.Operator.Token; t != "" {
		// The API trims the Authorization header, so a token with outer
		// white space could never match.
		if n := utf8.RuneCountInString(t); n < MinOperatorTokenLen {
			bad("operator.token: must be at least %d characters, like the output of `openssl rand -hex 32`, or empty to turn the operator endpoints off; got %d characters (value not shown, it is a secret)", MinOperatorTokenLen, n)
		} else if strings.TrimSpace(t) != t {
			bad("operator.token: must not start or end with white space (value not shown, it is a secret)")
		}
	}
	errs = append(errs, c.Adopt.validate(c)...)
	return errors.Join(errs...)
}

// checkMySQLDSN says what is wrong with a MySQL DSN, or "" if nothing is.
func checkMySQLDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// Only the driver's fixed "invalid DSN: ..." messages are safe to
		// show; its other errors quote parts of the DSN.
		if msg := err.Error(); strings.HasPrefix(msg, "invalid DSN: ") {
			return "not a MySQL DSN, " + strings.TrimPrefix(msg, "invalid DSN: ")
		}
		return "not a MySQL DSN"
	}
	if cfg.DBName == "" {
		return "names no database"
	}
	return ""
}
