package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"reflect"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

func loadY(t *testing.T, k *koanf.Koanf, s string) error {
	p := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(p, []byte(s), 0o600)
	return k.Load(file.Provider(p), yaml.Parser())
}

func walk(err error, depth int) {
	fmt.Printf("%*s%T: %q\n", depth*2, "", err, err.Error())
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() { walk(x, depth+1) }
	case interface{ Unwrap() error }:
		if x := e.Unwrap(); x != nil { walk(x, depth+1) }
	}
}

func TestScratch(t *testing.T) {
	e := koanf.New(".")
	loadY(t, e, "databse: 1\nlog: info\ndatabase:\n  drivr: x\n  max_open_conns: lots\nhttp:\n  shutdown_timeout: 30\n  trusted_proxies: 7\nplugins:\n  dir: [a]\n")
	var c Config
	err := e.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), func(f, to reflect.Type, d any) (any, error) {
			if to == reflect.TypeOf(time.Duration(0)) && f.Kind() == reflect.Int { return nil, fmt.Errorf("must be a duration like 30s, got %v", d) }
			return d, nil
		}),
		ErrorUnused: true, WeaklyTypedInput: true,
	}})
	walk(err, 0)
	fmt.Printf("%+v\n", c)
}
