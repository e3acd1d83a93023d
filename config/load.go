package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

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
