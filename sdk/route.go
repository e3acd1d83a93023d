package sdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

func (s *server) HTTP(ctx context.Context, req *pluginv1.HTTPRequest) (_ *pluginv1.HTTPResponse, err error) {
	defer s.recovered(HookHTTP, &err)
	r, err := routeRequest(ctx, req)
	if err != nil {
		w := httptest.NewRecorder()
		Refuse(w, http.StatusBadRequest, "invalid_path", err.Error())
		return responseOf(w), nil
	}
	ctx = WithCaller(s.hooked(ctx), CallerInfo{
		Install: installOf(req.GetInstall()), User: userOf(req.GetUser()), Settings: req.GetSettingsJson(),
		Now: hostTime(req.GetNowMs()),
	})
	return responseOf(s.route(r.WithContext(ctx))), nil
}

// routeRequest builds the request the plugin's routes see from the host's.
// It is put together field by field, never parsed from text, so that no
// path, query or header the host forwards can make it fail: an encoded
// space, "%", "?" or "/" is a character of its segment. Only a raw path
// whose percent-encoding is broken is refused.
func routeRequest(ctx context.Context, req *pluginv1.HTTPRequest) (*http.Request, error) {
	u := &url.URL{Path: req.GetPath(), RawQuery: req.GetQuery()} // a host before raw_path sent the decoded path alone
	if raw := req.GetRawPath(); raw != "" {
		decoded, err := url.PathUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("the path %q is not validly percent-encoded", raw)
		}
		u.Path, u.RawPath = decoded, raw
	}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/" + u.RawPath
		}
	}
	method := req.GetMethod()
	if method == "" {
		method = http.MethodGet
	}
	body := req.GetBody()
	r := &http.Request{
		Method: method, URL: u, RequestURI: u.RequestURI(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(req.GetHeaders())), Body: http.NoBody, ContentLength: int64(len(body)),
	}
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	for k, v := range req.GetHeaders() {
		r.Header.Set(k, v)
	}
	return r.WithContext(ctx), nil
}

// Go's own plain-text answers when no route matches (http.NotFound, and
// http.ServeMux for a path that other methods have).
const (
	goNotFound         = "404 page not found\n"
	goMethodNotAllowed = "Method Not Allowed\n"
)

// route runs the plugin's routes on r. A route that panics answers 500
// plugin_error, logged with its stack, and the plugin serves on; Go's
// plain-text 404 and 405 for a request no route takes become the host's
// JSON error form, so that every plugin's routes answer as the host does.
func (s *server) route(r *http.Request) (w *httptest.ResponseRecorder) {
	target := r.Method + " " + r.URL.EscapedPath()
	if s.routes == nil {
		w = httptest.NewRecorder()
		Refuse(w, http.StatusNotFound, "no_route", fmt.Sprintf("%s has no route %s", s.named(), target))
		return w
	}
	defer func() {
		// http.ErrAbortHandler too: there is no connection here to abort,
		// only this call to answer.
		if v := recover(); v != nil {
			s.logPanic("a route panicked; answered 500, the plugin serves on", v, "route", target)
			w = httptest.NewRecorder()
			Refuse(w, http.StatusInternalServerError, wire.FaultCode,
				fmt.Sprintf("%s failed on this request; the error is in its log", s.named()))
		}
	}()
	w = httptest.NewRecorder()
	s.routes.ServeHTTP(w, r)
	switch {
	case w.Code == http.StatusNotFound && w.Body.String() == goNotFound:
		w = httptest.NewRecorder()
		Refuse(w, http.StatusNotFound, "no_route", fmt.Sprintf("%s has no route %s", s.named(), target))
	case w.Code == http.StatusMethodNotAllowed && w.Body.String() == goMethodNotAllowed:
		allow := w.Header().Get("Allow")
		w = httptest.NewRecorder()
		if allow != "" {
			w.Header().Set("Allow", allow)
		}
		Refuse(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s does not answer %s on %s", s.named(), r.Method, r.URL.EscapedPath()))
	}
	return w
}

// responseOf is a recorded answer as the host receives it.
func responseOf(w *httptest.ResponseRecorder) *pluginv1.HTTPResponse {
	headers := make(map[string]string, len(w.Header()))
	for k := range w.Header() {
		headers[k] = w.Header().Get(k)
	}
	return &pluginv1.HTTPResponse{Status: int32(w.Code), Headers: headers, Body: w.Body.Bytes()}
}
