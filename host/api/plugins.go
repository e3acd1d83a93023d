package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

type pluginJSON struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Version        string          `json:"version"`
	Description    string          `json:"description"`
	Priority       int             `json:"priority"`
	Hooks          []string        `json:"hooks"`
	SettingsSchema json.RawMessage `json:"settings_schema,omitempty"`
	Active         bool            `json:"active"`
	Running        bool            `json:"running"`
}

func toPluginJSON(p service.PluginStatus) pluginJSON {
	hooks := p.Hooks
	if hooks == nil {
		hooks = []string{}
	}
	return pluginJSON{ID: p.ID, Name: p.Name, Version: p.Version, Description: p.Description, Priority: p.Priority,
		Hooks: hooks, SettingsSchema: p.SettingsSchema, Active: p.Active, Running: p.Running}
}

// listPlugins answers GET /v1/plugins: the host's plugins, which of them
// the caller's install has active, and (for admins) the binaries that could
// not be used.
func (s *server) listPlugins(c *gin.Context) {
	list, problems, err := s.svc.ListPlugins(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]pluginJSON, len(list))
	for i, p := range list {
		items[i] = toPluginJSON(p)
	}
	out := gin.H{"plugins": items}
	if problems != nil {
		out["problems"] = problems
	}
	c.JSON(http.StatusOK, out)
}

func (s *server) activatePlugin(c *gin.Context)   { s.setPluginActive(c, true) }
func (s *server) deactivatePlugin(c *gin.Context) { s.setPluginActive(c, false) }

func (s *server) setPluginActive(c *gin.Context, on bool) {
	st, err := s.svc.SetPluginActive(c.Request.Context(), principal(c), c.Param("id"), on)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toPluginJSON(st))
}

func (s *server) getPluginSettings(c *gin.Context) {
	settings, err := s.svc.PluginSettings(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, settings)
}

func (s *server) putPluginSettings(c *gin.Context) {
	var settings json.RawMessage
	if err := decodeJSON(c, &settings); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.svc.UpdatePluginSettings(c.Request.Context(), principal(c), c.Param("id"), settings)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// pluginAPI forwards ANY /v1/plugins/{id}/api/*path to the plugin, without
// the caller's credentials, and answers with what the plugin answers. The
// path goes as the client wrote it, once it is one the plugin's router
// reads as named (pluginPath); a redirect stays within the plugin's routes.
func (s *server) pluginAPI(c *gin.Context) {
	id := c.Param("id")
	rawPath, path, err := pluginPath(id, c.Request.URL.EscapedPath())
	if err != nil {
		s.fail(c, err)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, crm.Errorf(crm.KindTooLarge, "body_too_large", "the request body is over %d bytes", MaxBodyBytes))
		return
	}
	// The plugin protocol's strings are UTF-8: a header value's invalid
	// bytes reach the plugin as U+FFFD, a query's percent-encoded (which
	// decodes to the same bytes).
	headers := map[string]string{}
	for k := range c.Request.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Cookie", "Proxy-Authorization":
		default:
			headers[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(c.Request.Header.Get(k), "\uFFFD")
		}
	}
	resp, err := s.svc.PluginHTTP(c.Request.Context(), principal(c), id, service.PluginRequest{
		Method: c.Request.Method, Path: path, RawPath: rawPath, Query: asciiQuery(c.Request.URL.RawQuery), Headers: headers, Body: body,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	answer := map[string]string{}
	for k, v := range resp.Headers {
		switch k = http.CanonicalHeaderKey(k); k {
		case "Content-Length", "Connection", "Transfer-Encoding", "Set-Cookie":
		case "Location":
			if answer[k], err = confineLocation(id, rawPath, v); err != nil {
				s.log.Warn("a plugin's redirect left its routes; refused", "plugin", id, "location", v)
				s.fail(c, err)
				return
			}
		default:
			answer[k] = v
		}
	}
	for k, v := range answer {
		c.Header(k, v)
	}
	status := resp.Status
	if status < 100 || status > 599 {
		status = http.StatusBadGateway
	}
	c.Data(status, resp.Headers["Content-Type"], resp.Body)
}

// asciiQuery percent-encodes the bytes of a raw query beyond ASCII, which
// decode to the same bytes: a query written with raw UTF-8, or with bytes
// that are not UTF-8, means the same to the plugin.
func asciiQuery(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c >= 0x80 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

type pluginStateJSON struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// restartPlugin answers POST /v1/admin/plugins/{id}/restart, for the
// operator: it brings a failed plugin back at once and answers with the
// state the restart left it in; a running plugin is left running.
func (s *server) restartPlugin(c *gin.Context) {
	id := c.Param("id")
	state, err := s.svc.RestartPlugin(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pluginStateJSON{ID: id, State: state})
}
