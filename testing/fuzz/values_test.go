package fuzz

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// The exotic inputs, as they are sent: path segments and query values
// percent-encoded, JSON values as JSON text.

// exoticSegments replace one segment of a path. %-escapes are decoded by
// the server before routing, so each reaches the handlers as the byte it
// names.
var exoticSegments = []string{
	"%00", "%09", "%0d", "%0a", "%20", "%25", "%2f", "%3f", "%2e%2e", "..", ".", "%2e",
	"a%00b", "a%20b", "a%09b", "a%0d%0ab", "a%25b", "a%2fb", "a%3fb", "a%3fx=1", "a%23b", "%2e%2e%2f%2e%2e",
	"%ff%fe", "%c3%28", "%ed%a0%80", "%e2%80%ae", "%ef%bb%bf", "%f0%9f%98%80", "%c0%af",
	"null", "-1", "0", "1e400", "NaN", "%7b%7d", "*", "~", ";", ",", "'", "%22",
	":count", ":reassign", ":changed", "x:changed", "..%2f..%2fetc%2fpasswd",
	strings.Repeat("A", 26), strings.Repeat("Z", 27), strings.Repeat("8", 26), strings.Repeat("a", 300), strings.Repeat("x", 5000),
}

// segmentTweaks change a real value of a segment (an id, a type, a name).
var segmentTweaks = []func(string) string{
	func(s string) string { return s + "%00" },
	func(s string) string { return s + "%20" },
	func(s string) string { return "%20" + s },
	func(s string) string { return s + "%0a" },
	func(s string) string { return s + "%2f" },
	func(s string) string { return s + "%3f" },
	func(s string) string { return s + "/.." },
	func(s string) string { return s + "/" },
	func(s string) string { return strings.ToLower(s) },
	func(s string) string { return s + "A" },
	func(s string) string { return s[:len(s)/2] },
	func(s string) string { return s + ":changed" },
	func(s string) string { return s + ":count" },
	func(s string) string { return s + "%ff" },
	func(s string) string { return strings.Repeat(s, 50) },
	func(s string) string { return percentAll(s) },
}

// percentAll spells every byte of s as a %-escape: the same value once
// decoded.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex2(s[i])))
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// exoticQuery are values for any query parameter.
var exoticQuery = []string{
	"", "0", "-0", "-1", "1", "200", "201", "1e400", "1e-400", "NaN", "Infinity", "1.5", "%201", "0x10",
	strings.Repeat("9", 400), "9223372036854775808", "%00", "%0a", "%ff", "%25", "%", "_", "%5c", "'", "%22",
	"me", "none", "all", "edit", "view", "delete", "share", "assign", "active", "expired", "lead", "LEAD",
	strings.Repeat("q", 3000), "%e2%80%ae", "a,b,,c", ",", "%2c%2c",
}

// exoticNumbers are JSON numbers beyond what float64 and int64 hold, or
// at their edges.
var exoticNumbers = []string{
	"1e400", "-1e400", "1e-400", "-0", "0.0", "-0.0", "1E+2", "0.1e1", "5e-324", "1.7976931348623157e309",
	strings.Repeat("9", 400), "-" + strings.Repeat("9", 400), "9223372036854775808", "-9223372036854775809",
	"18446744073709551616", "0." + strings.Repeat("0", 400) + "1", "123456789012345678901234567890.5",
}

// badJSON are raw replacements of one value: not JSON at all, or not UTF-8.
var badJSON = []string{
	"NaN", "Infinity", "-Infinity", "+1", "01", ".5", "0x10", "1.", "1e", "--1", "undefined", "'x'",
	"\"\xff\xfe\"", "\"a\xc3\x28b\"", "\"\xed\xa0\x80\"", "\"tab\there\"", "\"nl\nhere\"", "\"\x00\"",
	"[1,]", "{\"a\":1,}", "{\"a\"}", "[", "{", "\"unterminated",
}

// exoticStrings are JSON string values.
var exoticStrings = []string{
	"", " ", "NaN", "1e400", "null", "true", "\u0000", "\u202e", "\ufeff", "😀", "<script>alert(1)</script>",
	"' OR 1=1 --", "%00", "../..", "\\", "\"", "a\nb", strings.Repeat("x", 255), strings.Repeat("x", 256),
	strings.Repeat("é", 300), strings.Repeat("long", 20000), "\ud7ff", "view", "edit", "admin", "none", "all",
	"lead", "2027-01-31T18:00:00Z", "2027-13-45T99:99:99Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
}

// exoticValue is a random exotic JSON value: a number, a string, another
// kind, or raw bytes that are not JSON.
func exoticValue(r *rand.Rand) any {
	switch r.IntN(8) {
	case 0, 1:
		return number(pick(r, exoticNumbers))
	case 2, 3:
		return pick(r, exoticStrings)
	case 4:
		return rawFragment(r.IntN(len(badJSON)))
	case 5:
		return deepArray(1 + r.IntN(200))
	default:
		return pick(r, []any{true, false, nil, []any{}, map[string]any{}, []any{1, "a", nil}, map[string]any{"a": map[string]any{"b": []any{}}}, number("0")})
	}
}

// number is a JSON number kept as its text, so that numbers no Go type
// holds are sent as they are.
type number string

// MarshalJSON writes the number as it is.
func (n number) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// rawFragment is a value of a body that is sent as the raw bytes of
// badJSON[i], which JSON cannot carry: it is encoded as a placeholder
// that spliceRaw replaces.
type rawFragment int

// MarshalJSON writes the placeholder.
func (i rawFragment) MarshalJSON() ([]byte, error) { return i.placeholder(), nil }

func (i rawFragment) placeholder() []byte { return fmt.Appendf(nil, `"\u0001raw%d\u0001"`, int(i)) }

// spliceRaw replaces the placeholders of an encoded body by their raw
// bytes.
func spliceRaw(b []byte) []byte {
	if !bytes.Contains(b, []byte(`"\u0001raw`)) {
		return b
	}
	for i := range badJSON {
		b = bytes.ReplaceAll(b, rawFragment(i).placeholder(), []byte(badJSON[i]))
	}
	return b
}

func deepArray(depth int) any {
	var v any = "deep"
	for range depth {
		v = []any{v}
	}
	return v
}

// tamperCursor changes a cursor an answer gave: flipped, cut, extended,
// or rebuilt around another id.
func tamperCursor(r *rand.Rand, c string) string {
	if c == "" {
		c = base64.RawURLEncoding.EncodeToString([]byte("v1:01ARZ3NDEKTSV4RRFFQ69G5FAV"))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	raw, _ := base64.RawURLEncoding.DecodeString(c)
	switch r.IntN(12) {
	case 0:
		b := []byte(c)
		b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
		return string(b)
	case 1:
		return c[:r.IntN(len(c))]
	case 2:
		return c + string(alphabet[r.IntN(len(alphabet))])
	case 3:
		return c + "=="
	case 4:
		return c + "%00"
	case 5:
		return base64.StdEncoding.EncodeToString(raw)
	case 6:
		return base64.RawURLEncoding.EncodeToString(append(raw, "' OR 1=1 --"...))
	case 7:
		return base64.RawURLEncoding.EncodeToString([]byte("v2:" + strings.TrimPrefix(string(raw), "v1:")))
	case 8:
		return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strings.Repeat("Z", 400)))
	case 9:
		return base64.RawURLEncoding.EncodeToString([]byte("v1:\xff\x00%"))
	case 10:
		return base64.RawURLEncoding.EncodeToString([]byte("v1:"))
	default:
		return strings.ToLower(c)
	}
}

// badIfMatch are If-Match values that name no version.
var badIfMatch = []string{
	`"abc"`, `W/"1"`, `-1`, `0`, `"0"`, `1e400`, `"1e400"`, strings.Repeat("9", 400), `"1", "2"`, `" 1 "`,
	`""`, `"`, `9223372036854775808`, `1.0`, `0x1`, "\t1", `"1`, `*, "1"`, "\xff",
}

// badContentTypes are Content-Type values a JSON body may come with.
var badContentTypes = []string{
	"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1",
	"application/xml", "", "application/json; charset=utf-16",
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randomID is a well-formed id that names nothing.
func randomID(r *rand.Rand) string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := []byte("01")
	for len(b) < 26 {
		b = append(b, crockford[r.IntN(len(crockford))])
	}
	return string(b)
}
