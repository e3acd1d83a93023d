package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// mapIndex is mapstructure's spelling of a map entry, [lead] in
// adopt.types[lead].table.
var mapIndex = regexp.MustCompile(`\[([^\]]*[^0-9\]][^\]]*)\]`)

// keyOf is mapstructure's name of a value as the file spells its key:
// adopt.types.lead.table; items of a list keep their index, name[0].
func keyOf(name string) string { return mapIndex.ReplaceAllString(name, ".$1") }

// typeWords says, in the file's terms, what a value of type t must be.
func typeWords(t reflect.Type) string {
	if t == durationType {
		return `a duration with a unit, like "30s"`
	}
	return kindWords(t.Kind().String())
}

// kindWords says what a value of a reflect kind (by name) is.
func kindWords(kind string) string {
	switch kind {
	case "string":
		return "text"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "a list"
	case "map", "struct", "ptr":
		return "a mapping of keys to values"
	}
	return "a value of another kind"
}

// valueWords describes a value read from the file: a scalar as it is,
// a list or a mapping by kind.
func valueWords(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", v)
	case bool, int, int64, uint64, float64, time.Time:
		return fmt.Sprint(v)
	}
	return kindWords(reflect.TypeOf(v).Kind().String())
}

// reasonWords rewords mapstructure's plain errors.
func reasonWords(reason string) string {
	if kind, ok := strings.CutPrefix(reason, "expected a map or struct, got "); ok {
		return "must be a mapping of keys to values, got " + kindWords(strings.Trim(kind, `"`))
	}
	return reason
}

// yamlWords rewords the YAML parser's errors that name Go types: a file
// that is not a mapping (a number, a list), a mapping used as a key.
func yamlWords(err error) error {
	switch msg := err.Error(); {
	case strings.Contains(msg, "cannot unmarshal") && strings.Contains(msg, "into map["):
		return errors.New(`must be a YAML mapping of keys to values, like "addr: 127.0.0.1:8080"`)
	case strings.Contains(msg, "cannot unmarshal"), strings.HasPrefix(msg, "yaml: invalid map key"):
		return errors.New("yaml: a key must be text or a number, not a mapping or a list")
	}
	return err
}
