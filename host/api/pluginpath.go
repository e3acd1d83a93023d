package api

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crmguard/crmguard/host/crm"
)

// pluginPrefix is where a plugin's routes are on the host.
func pluginPrefix(id string) string { return "/v1/plugins/" + id + "/api" }

// pluginPath returns the path of a request to plugin id's routes, below
// its prefix: as the client wrote it (an encoded "/" or "?" stays part of
// its segment) and decoded. A path the plugin's router would read as
// something else, or that no segment can hold, is refused (400
// invalid_path) before it reaches the plugin.
func pluginPath(id, escaped string) (raw, decoded string, err error) {
	raw, ok := strings.CutPrefix(escaped, pluginPrefix(id))
	if !ok || (raw != "" && raw[0] != '/') {
		return "", "", crm.Invalid("invalid_path", "the path up to a plugin's routes (%s) must be written without percent-encoding", pluginPrefix(id))
	}
	if raw == "" {
		raw = "/"
	}
	decoded, problem := checkPluginPath(raw)
	if problem != "" {
		return "", "", crm.Invalid("invalid_path", "%s", problem)
	}
	return raw, decoded, nil
}

// checkPluginPath decodes a plugin path (percent-encoded, starting with
// "/") segment by segment, or says what is wrong with it: a segment that
// is not validly percent-encoded or not UTF-8 once decoded, that holds a
// control character, that is "." or ".." (raw or encoded: routers resolve
// them, and the request would reach another route than the one named), or
// that is empty inside the path ("//", which routers collapse).
func checkPluginPath(raw string) (decoded string, problem string) {
	segments := strings.Split(raw[1:], "/")
	for i, seg := range segments {
		s, err := url.PathUnescape(seg)
		switch {
		case err != nil:
			return "", fmt.Sprintf("path segment %q is not validly percent-encoded", seg)
		case !utf8.ValidString(s):
			return "", fmt.Sprintf("path segment %q is not UTF-8 once decoded", seg)
		case strings.ContainsFunc(s, unicode.IsControl):
			return "", fmt.Sprintf("path segment %q holds a control character", seg)
		case s == "." || s == "..":
			return "", fmt.Sprintf("path segment %q is a dot segment; name the path without . and ..", seg)
		case s == "" && i < len(segments)-1:
			return "", "the path holds an empty segment (//)"
		}
		segments[i] = s
	}
	return "/" + strings.Join(segments, "/"), ""
}

// confineLocation places the Location a plugin answered with under its
// prefix on the host: a plugin's paths are below its prefix, a redirect's
// too, and dot segments cannot climb above it. A Location that names a
// scheme or a host (scheme-relative "//x" too) would send the client
// away: it is refused.
//
// requestPath is the path the plugin was asked for (percent-encoded), for
// relative references.
func confineLocation(id, requestPath, location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.HasPrefix(location, "//") {
		return "", crm.Errorf(crm.KindPlugin, "plugin_error", "plugin %s answered with a redirect away from its routes; it was not followed", id)
	}
	base, err := url.Parse(requestPath)
	if err != nil {
		base = &url.URL{Path: "/"}
	}
	return pluginPrefix(id) + base.ResolveReference(u).String(), nil
}
