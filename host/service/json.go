package service

import (
	"bytes"
	"encoding/json"
	"errors"
)

// decodeObject reads a JSON object, keeping its numbers exactly as they
// were written (json.Number): a number beyond float64 is valid JSON, and
// what a client or a plugin wrote is what is stored and passed on. It
// returns an error for anything but one object.
func decodeObject(raw []byte) (map[string]any, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil || dec.More() {
		return nil, errors.New("not one JSON object")
	}
	return obj, nil
}
