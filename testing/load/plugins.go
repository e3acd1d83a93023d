package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
)

// knownPlugins are the plugins -plugins may name, with the settings the
// run gives them.
var knownPlugins = map[string]func() map[string]any{
	"strict-ownership": strictSettings,
	"teams":            teamsSettings,
	"delegation":       delegationSettings,
}

// pluginList is -plugins, checked: the plugins the run activates.
func pluginList(plugins string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(plugins, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, ok := knownPlugins[p]; !ok {
			return nil, fmt.Errorf("-plugins: unknown plugin %q; the load generator knows %s", p, strings.Join(slices.Sorted(maps.Keys(knownPlugins)), " and "))
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
	call := func(method, path string, body, out any) error {
		var rd io.Reader
		if body != nil {
			raw, err := json.Marshal(body)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+f.admin.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
		}
		if out != nil {
			return json.Unmarshal(msg, out)
		}
		return nil
	}
	var list struct {
		Plugins []struct {
			ID     string `json:"id"`
			Active bool   `json:"active"`
		} `json:"plugins"`
	}
	if err := call("GET", "/v1/plugins", nil, &list); err != nil {
		return err
	}
	for _, p := range list.Plugins {
		if _, known := knownPlugins[p.ID]; known && p.Active && !slices.Contains(active, p.ID) {
			if err := call("POST", "/v1/plugins/"+p.ID+"/deactivate", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "load: %s was active in the install; deactivated for this run\n", p.ID)
		}
	}
	for _, id := range active {
		if err := call("PUT", "/v1/plugins/"+id+"/settings", knownPlugins[id](), nil); err != nil {
			return err
		}
		if err := call("POST", "/v1/plugins/"+id+"/activate", nil, nil); err != nil {
			return fmt.Errorf("%w (is %s in the host's plugin directory? make build puts it in bin/plugins)", err, id)
		}
		fmt.Fprintf(os.Stderr, "load: %s is active in the install\n", id)
	}
	return nil
}
