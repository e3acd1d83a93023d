// Command manifest is a plugin for the runtime's tests that serves the
// manifest in the JSON file beside its binary (<binary>.json), so that one
// build serves every manifest a test needs.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/crmguard/crmguard/sdk"
)

type fromFile struct{ m sdk.Manifest }

func (p fromFile) Manifest() sdk.Manifest { return p.m }

func main() {
	var p fromFile
	exe, err := os.Executable()
	if err == nil {
		var raw []byte
		if raw, err = os.ReadFile(exe + ".json"); err == nil {
			err = json.Unmarshal(raw, &p.m)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifest:", err)
		os.Exit(1)
	}
	sdk.Serve(p)
}
