package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

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
