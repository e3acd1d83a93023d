package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
)

// knownPlugins are the plugins -plugins may name, with the settings the
// run gives them.
var knownPlugins = map[string]func() map[string]any{
	"strict-ownership": strictSettings,
}

// pluginList is -plugins, checked: the plugins the run activates.
func pluginList(o options) ([]string, error) {
	var out []string
	for _, p := range strings.Split(o.plugins, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, ok := knownPlugins[p]; !ok {
			return nil, fmt.Errorf("-plugins: unknown plugin %q; the load generator knows strict-ownership", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// setPlugins makes the install's active plugins those of -plugins, as its
// admin: each of them configured and activated, every other known plugin
// deactivated (an earlier run's activation is kept in the database, and
// would otherwise shape this run's figures).
func (f *fixture) setPlugins(base string, active []string) error {
	call := func(method, path string, body any) (int, error) {
		var rd io.Reader
		if body != nil {
			raw, err := json.Marshal(body)
			if err != nil {
				return 0, err
			}
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+f.admin.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
		}
		return resp.StatusCode, nil
	}
	for id, settings := range knownPlugins {
		if !slices.Contains(active, id) {
			// A host without the plugin has nothing to deactivate.
			if status, err := call("POST", "/v1/plugins/"+id+"/deactivate", nil); err != nil && status != http.StatusNotFound {
				return err
			}
			continue
		}
		if _, err := call("PUT", "/v1/plugins/"+id+"/settings", settings()); err != nil {
			return err
		}
		if _, err := call("POST", "/v1/plugins/"+id+"/activate", nil); err != nil {
			return fmt.Errorf("%w (is %s in the host's plugin directory? make build puts it in bin/plugins)", err, id)
		}
		fmt.Fprintf(os.Stderr, "load: %s is active in the install\n", id)
	}
	return nil
}
