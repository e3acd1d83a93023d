package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// echo is a plugin whose routes say what request they saw, and misbehave
// on demand.
type echo struct{ bare }

func (echo) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /echo/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string]any{"id": r.PathValue("id"), "path": r.URL.Path, "q": r.URL.Query().Get("q"),
			"header": r.Header.Get("X-Test"), "uri": r.RequestURI, "proto": r.Proto, "length": r.ContentLength})
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	mux.HandleFunc("POST /echo/{id}", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			Refuse(w, http.StatusBadRequest, "invalid_json", err.Error())
			return
		}
		Reply(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Half", "done")
		w.Write([]byte("half an answer"))
		panic("route boom")
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("GET /bad-status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) })
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		Refuse(w, http.StatusNotFound, "not_found", "no such thing")
	})
	return mux
}

// testServer is p's server with its log in a buffer.
func testServer(t *testing.T, p Plugin) (*server, *bytes.Buffer) {
	t.Helper()
	s := ServerWithHost(p, nil).(*server)
	var log bytes.Buffer
	s.log = hclog.New(&hclog.LoggerOptions{Output: &log, JSONFormat: true, Level: hclog.Info})
	return s, &log
}

func call(t *testing.T, s *server, req *pluginv1.HTTPRequest) *pluginv1.HTTPResponse {
	t.Helper()
	resp, err := s.HTTP(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.GetMethod(), req.GetRawPath(), err)
	}
	return resp
}

// errorOf returns the code and message of an answer in the host's error
// form, failing on any other.
func errorOf(t *testing.T, resp *pluginv1.HTTPResponse) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(resp.GetBody(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%d: not an error in the host's form: %q", resp.GetStatus(), resp.GetBody())
	}
	if ct := resp.GetHeaders()["Content-Type"]; ct != "application/json" {
		t.Fatalf("error answered as %q", ct)
	}
	return e.Error.Code, e.Error.Message
}

// The encoded bytes that made the request rebuilt with httptest panic,
// and the separators that must stay part of their segment.
var encodedBytes = []string{"%20", "%00", "%01", "%09", "%0a", "%0d", "%1f", "%7f", "%25", "%3f", "%23", "%2f", "%5c", "%22", "%ff", "%c3%a9", "%e2%80%8b"}

func TestRouteRequestTakesEveryEncodedByte(t *testing.T) {
	s, _ := testServer(t, echo{bare{Manifest{ID: "echo"}}})
	for _, enc := range encodedBytes {
		decoded, err := url.PathUnescape(enc)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(enc, func(t *testing.T) {
			raw := "/echo/a" + enc + "b"
			resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", Path: "/echo/a" + decoded + "b", RawPath: raw,
				Query: "q=x" + enc + "y", Headers: map[string]string{"X-Test": "v" + decoded}})
			if resp.GetStatus() != 200 {
				t.Fatalf("%d %s", resp.GetStatus(), resp.GetBody())
			}
			var got map[string]any
			if err := json.Unmarshal(resp.GetBody(), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"id": "a" + decoded + "b", "path": "/echo/a" + decoded + "b", "q": "x" + decoded + "y",
				"header": "v" + decoded, "uri": raw + "?q=x" + enc + "y", "proto": "HTTP/1.1", "length": float64(0)}
			for k, v := range want {
				if s, ok := v.(string); ok {
					v = viaJSON(s) // invalid UTF-8 is replaced on the way
				}
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// viaJSON is s after a trip through JSON.
func viaJSON(s string) string {
	raw, _ := json.Marshal(s)
	var out string
	json.Unmarshal(raw, &out)
	return out
}

func TestRouteRequestFromAnOlderHost(t *testing.T) {
	// A host before raw_path sends the decoded path alone: a "?" in it is
	// still part of the path, never the start of a query.
	s, _ := testServer(t, echo{bare{Manifest{ID: "echo"}}})
	for _, id := range []string{"a b", "a?b", "a%b", "a\x00b", "a\rb", "é"} {
		resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", Path: "/echo/" + id, Query: "q=1"})
		var got map[string]any
		if err := json.Unmarshal(resp.GetBody(), &got); err != nil || got["id"] != id || got["q"] != "1" {
			t.Errorf("%q: %d %s", id, resp.GetStatus(), resp.GetBody())
		}
	}
}

func TestRouteRequestHeadersAndBody(t *testing.T) {
	s, _ := testServer(t, echo{bare{Manifest{ID: "echo"}}})
	headers := map[string]string{"X-Test": "a\r\nb\x00", "bad key": "x", "": "empty", "X-Long": strings.Repeat("x", 1<<16),
		"Content-Length": "-5", "Host": "elsewhere.example", "Content-Type": "\x7f"}
	resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", RawPath: "/echo/1", Path: "/echo/1", Headers: headers})
	var got map[string]any
	if err := json.Unmarshal(resp.GetBody(), &got); err != nil || got["header"] != "a\r\nb\x00" {
		t.Fatalf("%d %s", resp.GetStatus(), resp.GetBody())
	}
	resp = call(t, s, &pluginv1.HTTPRequest{Method: "POST", RawPath: "/echo/1", Path: "/echo/1", Body: []byte(`{"n":1}`), Headers: headers})
	if resp.GetStatus() != 200 || string(bytes.TrimSpace(resp.GetBody())) != `{"n":1}` {
		t.Fatalf("POST: %d %s", resp.GetStatus(), resp.GetBody())
	}
	for _, method := range []string{"", "BREW", "get", "G E T"} {
		resp := call(t, s, &pluginv1.HTTPRequest{Method: method, RawPath: "/echo/1", Path: "/echo/1"})
		if st := resp.GetStatus(); st != 200 && st != 405 {
			t.Errorf("method %q: %d %s", method, st, resp.GetBody())
		}
	}
}

func TestRouteRequestWithBrokenEncoding(t *testing.T) {
	s, _ := testServer(t, echo{bare{Manifest{ID: "echo"}}})
	for _, raw := range []string{"/echo/%zz", "/echo/%", "/echo/a%2"} {
		resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", RawPath: raw, Path: "/echo/x"})
		if code, _ := errorOf(t, resp); resp.GetStatus() != 400 || code != "invalid_path" {
			t.Errorf("%s: %d %s", raw, resp.GetStatus(), resp.GetBody())
		}
	}
}

func TestUnroutedRequestsAnswerInTheHostsForm(t *testing.T) {
	s, _ := testServer(t, echo{bare{Manifest{ID: "echo"}}})
	for _, tc := range []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"NoRoute", "GET", "/nothing/here", 404, "no_route", ""},
		{"WrongMethod", "DELETE", "/echo/1", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"TheRoutesOwn404", "GET", "/missing", 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, s, &pluginv1.HTTPRequest{Method: tc.method, RawPath: tc.path, Path: tc.path})
			code, msg := errorOf(t, resp)
			if resp.GetStatus() != int32(tc.status) || code != tc.code {
				t.Fatalf("%d %s", resp.GetStatus(), resp.GetBody())
			}
			if tc.code != "not_found" && !strings.Contains(msg, "plugin echo") {
				t.Errorf("the message does not name the plugin: %s", msg)
			}
			if allow := resp.GetHeaders()["Allow"]; allow != tc.allow {
				t.Errorf("Allow: %q, want %q", allow, tc.allow)
			}
		})
	}
	t.Run("NoRoutesAtAll", func(t *testing.T) {
		s, _ := testServer(t, bare{Manifest{ID: "bare"}})
		resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", RawPath: "/x", Path: "/x"})
		if code, _ := errorOf(t, resp); resp.GetStatus() != 404 || code != "no_route" {
			t.Fatalf("%d %s", resp.GetStatus(), resp.GetBody())
		}
	})
}

// logLines returns the plugin's log lines, each hclog's JSON.
func logLines(t *testing.T, log *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(log.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a log line that is not hclog's JSON: %q", line)
		}
		out = append(out, entry)
	}
	return out
}

func TestPanickingRoutes(t *testing.T) {
	for _, tc := range []struct{ path, panic string }{
		{"/panic", "route boom"},
		{"/abort", http.ErrAbortHandler.Error()},
		{"/bad-status", "invalid WriteHeader code 42"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, log := testServer(t, echo{bare{Manifest{ID: "echo"}}})
			resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", RawPath: tc.path, Path: tc.path})
			code, msg := errorOf(t, resp)
			if resp.GetStatus() != 500 || code != "plugin_error" || !strings.Contains(msg, "plugin echo") {
				t.Fatalf("%d %s", resp.GetStatus(), resp.GetBody())
			}
			if resp.GetHeaders()["X-Half"] != "" || strings.Contains(string(resp.GetBody()), "half") {
				t.Fatalf("the half-written answer went out: %v %s", resp.GetHeaders(), resp.GetBody())
			}
			lines := logLines(t, log)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1", len(lines))
			}
			e := lines[0]
			if e["@level"] != "error" || e["route"] != "GET "+tc.path || !strings.Contains(fmt.Sprint(e["panic"]), tc.panic) ||
				!strings.Contains(fmt.Sprint(e["stack"]), "sdk.echo.Routes") {
				t.Fatalf("log: %v", e)
			}
			// And the next request is served.
			if resp := call(t, s, &pluginv1.HTTPRequest{Method: "GET", RawPath: "/echo/1", Path: "/echo/1"}); resp.GetStatus() != 200 {
				t.Fatalf("after the panic: %d %s", resp.GetStatus(), resp.GetBody())
			}
		})
	}
}
