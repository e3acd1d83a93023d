package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
)

// decodeJSON reads the request body into v: exactly one JSON value, no
// unknown fields, numbers kept exact. Errors are written for the caller.
func decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return crm.Errorf(crm.KindTooLarge, "body_too_large", "the request body is over %d bytes", MaxBodyBytes)
		}
		return crm.Invalid("invalid_body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return crm.Invalid("invalid_json", "the request needs a JSON body")
	}
	if !utf8.Valid(body) { // JSON is UTF-8 (RFC 8259): what is kept as sent must be too
		return crm.Invalid("invalid_json", "the body is not UTF-8 (at byte %d); JSON is written in UTF-8", invalidUTF8At(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return crm.Invalid("invalid_json", "the request body holds more than one JSON value")
	}
	return nil
}

// invalidUTF8At is the offset of the first byte of b that is not part of
// a UTF-8 encoding.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// jsonError explains a decoding error in terms of the request.
func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return crm.Invalid("invalid_json", "the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeError):
		field := typeError.Field
		if field == "" {
			field = "the body"
		}
		return crm.Invalid("invalid_json", "%s: must be %s, got a JSON %s", field, describeType(typeError.Type.String()), typeError.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return crm.Invalid("invalid_json", "the body is not valid JSON: it ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return crm.Invalid("unknown_field", "unknown field %s", field)
	}
	return crm.Invalid("invalid_json", "the body is not valid JSON: %v", err)
}

func describeType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "api."):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string", goType == "*string", strings.HasSuffix(goType, "crm.AssignBy"), strings.HasSuffix(goType, "crm.Capability"):
		return "a string"
	case goType == "bool", goType == "*bool":
		return "true or false"
	}
	return "a " + goType
}

// queryInt reads an optional integer query parameter.
func queryInt(c *gin.Context, name string) (int, error) {
	s := c.Query(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, crm.Invalid("invalid_"+name, "%s: must be a whole number, got %q", name, s)
	}
	return n, nil
}

// ifMatch reads the If-Match header: a version as the ETag we send ("3"),
// bare (3), or * for any. 0 means no precondition.
func ifMatch(c *gin.Context) (int64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || v < 1 {
		return 0, crm.Invalid("invalid_if_match", `If-Match: must be the record's version as its ETag gives it, like "3", got %s`, h)
	}
	return v, nil
}

func etag(version int64) string { return fmt.Sprintf(`"%d"`, version) }

// nullableID renders an optional id as a JSON string or null.
func nullableID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

// optionalID reads an optional id from a request: null or absent is "".
func optionalID(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func utc(t time.Time) time.Time { return t.UTC() }
