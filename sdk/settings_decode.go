package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
)

// Decode checks settings as Validate does, then decodes them into v, a
// pointer to the plugin's settings (which may hold the defaults that
// the settings change): unknown keys are refused, and a whole number
// written with a fraction or an exponent (1.0, 1e2), which the schema's
// "integer" accepts, fits a whole-number field, and a number decoded into
// an interface value is a json.Number, exactly as written. Every error names the key
// and what it must be, in the words the host uses, so that a plugin's
// SettingsValidator and hooks need not check again what the schema says.
func (s *SettingsSchema) Decode(settings json.RawMessage, v any) error {
	if err := s.validated(settings); err != nil {
		return err
	}
	err := decodeStrict(settings, v)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Value, "number") {
		if whole, changed := wholeNumbers(settings); changed {
			settings = whole
			err = decodeStrict(settings, v)
		}
	}
	if err != nil {
		return decodeError(settings, err)
	}
	return nil
}

// decodeStrict decodes settings refusing unknown keys; a number decoded
// into an interface value stays a json.Number, exactly as written, as
// numbers in records' data do.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

// wholeNumbers rewrites the whole numbers of a document that are written
// with a fraction or an exponent as plain integers, and reports whether
// it changed any. Validate has bounded them, so the exact arithmetic is
// cheap.
func wholeNumbers(raw json.RawMessage) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return raw, false
	}
	changed := false
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		case json.Number:
			if !strings.ContainsAny(string(v), ".eE") {
				return v
			}
			if r, ok := new(big.Rat).SetString(string(v)); ok && r.IsInt() {
				changed = true
				return json.Number(r.Num().String())
			}
		}
		return v
	}
	doc = walk(doc)
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return raw, false
	}
	return out, true
}

// decodeError words an error of decoding settings into a plugin's types,
// which the schema let through: the schema and the types disagree.
func decodeError(raw json.RawMessage, err error) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s: must be %s", SettingsPath(pathAt(raw, typeErr.Offset)...), goExpect(typeErr.Type))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errNotObject
	}
	// The decoder names an unknown key, not where it is.
	if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		var name string
		if json.Unmarshal([]byte(key), &name) == nil {
			return fmt.Errorf("%s: unknown key", SettingsPath(name))
		}
	}
	return fmt.Errorf("settings: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// goExpect says what a value decoded into a Go type must be, in the
// product's words.
func goExpect(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return fmt.Sprintf("a whole number from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("a whole number from 0 to %d", ^uint64(0)>>(64-t.Bits()))
	case reflect.Float32:
		return "a number from -3.4e38 to 3.4e38"
	case reflect.Float64, reflect.Interface:
		return "a number from -1.7e308 to 1.7e308"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "something else"
}

// pathAt is the key path of the value that a decoding error's offset
// falls on: the decoder reports the offset just past a plain value, or
// just past the bracket that opens a list or an object.
func pathAt(raw json.RawMessage, offset int64) []any {
	type frame struct {
		list  bool
		key   string
		index int
		onKey bool // an object's next token is a key
	}
	var stack []*frame
	path := func() []any {
		elems := make([]any, 0, len(stack))
		for _, f := range stack {
			if f.list {
				elems = append(elems, f.index)
			} else {
				elems = append(elems, f.key)
			}
		}
		return elems
	}
	done := func() { // a value of the innermost list or object ended
		if n := len(stack); n > 0 {
			if f := stack[n-1]; f.list {
				f.index++
			} else {
				f.onKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		if n := len(stack); n > 0 && !stack[n-1].list && stack[n-1].onKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].onKey = key, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if dec.InputOffset() >= offset {
				return path()
			}
			stack = append(stack, &frame{list: tok == json.Delim('['), onKey: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			if dec.InputOffset() >= offset {
				return path()
			}
			done()
		}
	}
}
