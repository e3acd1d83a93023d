package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// SettingsError words an error of decoding settings with encoding/json
// for the administrator who sent them: the key at fault and what it must
// be, instead of Go's words ("cannot unmarshal number 30.0 into Go struct
// field settings.max_days of type int" becomes "max_days: must be a whole
// number, got 30.0"). Other errors are prefixed "settings: ".
func SettingsError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		key := te.Field
		if key == "" {
			key = "settings"
		}
		got := ""
		if n, ok := strings.CutPrefix(te.Value, "number "); ok {
			if len(n) > 40 {
				n = n[:40] + "…"
			}
			got = ", got " + n
		}
		return fmt.Errorf("%s: must be %s%s", key, jsonKind(te.Type), got)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("settings: %s is not a setting of this plugin", f)
	}
	return fmt.Errorf("settings: %v", err)
}

// jsonKind says what JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64, reflect.Interface:
		// An interface takes any value: only a number beyond float64
		// fails to decode into one.
		return "a number between -1.8e308 and 1.8e308"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// duplicateKey refuses settings in which an object holds a key twice.
// Readers differ on such a document (one takes the last value, another
// fails on the first), so the host's schema check and the plugin would
// not read the same settings. The settings are known to be JSON, nested
// less deep than encoding/json allows.
func duplicateKey(settings []byte) error {
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.UseNumber()
	if err := uniqueKeys(dec, ""); err != nil && !errors.Is(err, errNotJSON) {
		return err
	}
	return nil
}

var errNotJSON = errors.New("not JSON")

// uniqueKeys reads one value and refuses an object in it that holds a
// key twice, naming where: the object's key path (rules[1].match).
func uniqueKeys(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return errNotJSON
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			key, ok := tok.(string)
			if err != nil || !ok {
				return errNotJSON
			}
			if seen[key] {
				where := path
				if where != "" {
					where += ": "
				}
				if r := []rune(key); len(r) > 40 {
					key = string(r[:40]) + "…"
				}
				return fmt.Errorf("%skey %q appears twice", where, key)
			}
			seen[key] = true
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if err := uniqueKeys(dec, sub); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := uniqueKeys(dec, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return errNotJSON
	}
	return nil
}
