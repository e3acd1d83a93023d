package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// Client calls the HTTP API of one server with one bearer token.
type Client struct {
	T     testing.TB
	Base  string
	Token string
	ID    string // the token's user, when it is a user's
	// HTTP is the client used; nil means one with a 30 s timeout.
	HTTP *http.Client
}

// Reply is an answer of the API.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Raw sends one request with a body as it is (nil for none) and headers as
// name, value pairs, and returns the answer or the transport's error. path
// is sent as it is written, percent-encoding included.
func (c Client) Raw(method, path string, body []byte, headers ...string) (Reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return Reply{}, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	h := c.HTTP
	if h == nil {
		h = defaultHTTP
	}
	resp, err := h.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// Do sends a request whose body is v in JSON (nil for none) and fails the
// test if it gets no answer.
func (c Client) Do(method, path string, v any, headers ...string) Reply {
	c.T.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.T.Fatal(err)
		}
	}
	r, err := c.Raw(method, path, body, headers...)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Must is Do for a request that has to answer status.
func (c Client) Must(status int, method, path string, v any, headers ...string) Reply {
	c.T.Helper()
	r := c.Do(method, path, v, headers...)
	if r.Status != status {
		c.T.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	return r
}

// Object decodes the reply as a JSON object.
func (r Reply) Object(tb testing.TB) map[string]any {
	tb.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("not a JSON object: %s", r.Body)
	}
	return v
}

// ErrorCode is the code of an error reply, "" when the body is not the
// API's error form.
func (r Reply) ErrorCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(r.Body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// ID is the "id" of a JSON object reply.
func (r Reply) ID(tb testing.TB) string {
	tb.Helper()
	id, _ := r.Object(tb)["id"].(string)
	if id == "" {
		tb.Fatalf("no id in %s", r.Body)
	}
	return id
}

// IDs are the ids of a list reply's items ({"items":[{"id":...},...]}), in
// its order.
func (r Reply) IDs(tb testing.TB) []string {
	tb.Helper()
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		tb.Fatalf("not a list: %s", r.Body)
	}
	var out []string
	for _, it := range page.Items {
		out = append(out, it.ID)
	}
	return out
}
