package api

import (
	"strings"
	"testing"
)

// Percent-encoding that is not valid never reaches a handler through
// net/http (its server answers 400 first); the check stands anyway, for
// any other way a request comes in.
func TestCheckPluginPath(t *testing.T) {
	for _, tc := range []struct{ raw, decoded, problem string }{
		{"/", "/", ""},
		{"/a%20b/c%2Fd", "/a b/c/d", ""},
		{"/a/%zz", "", "not validly percent-encoded"},
		{"/a%", "", "not validly percent-encoded"},
		{"/a%2", "", "not validly percent-encoded"},
		{"/%e2%80", "", "not UTF-8"},
		{"/a%0d%0a", "", "control character"},
		{"/%2E%2e/x", "", "dot segment"},
		{"/a//", "", "empty segment"},
	} {
		decoded, problem := checkPluginPath(tc.raw)
		if decoded != tc.decoded || (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("%s: %q, %q; want %q, %q", tc.raw, decoded, problem, tc.decoded, tc.problem)
		}
	}
}
