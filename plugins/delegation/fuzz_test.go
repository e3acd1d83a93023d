package main

import (
	"encoding/json"
	"testing"

	"github.com/crmguard/crmguard/sdk/sdktest"
)

// FuzzSettings holds parse to the settings schema: what the schema
// accepts, parse accepts or refuses naming the key at fault.
func FuzzSettings(f *testing.F) {
	sdktest.FuzzSettings(f, delegation{}, func(raw json.RawMessage) error {
		_, err := parse(raw)
		return err
	})
}
