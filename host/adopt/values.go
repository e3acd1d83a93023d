package adopt

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmguard/crmguard/host/crm"
)

// ValidID checks that s is an id a column of ids can hold, in its one
// spelling: an integer column's ids are decimal numbers without leading
// zeros (MySQL would compare "7abc" with 7 as equal), a text column's
// are at most its size, in printable ASCII without spaces.
func ValidID(c Column, s string) bool {
	if s == "" {
		return false
	}
	if c.Kind == KindInt {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && strconv.FormatInt(n, 10) == s
	}
	if c.Size > 0 && utf8.RuneCountInString(s) > c.Size {
		return false
	}
	// Printable ASCII: crmguard's own tables (grants, audit) keep ids in
	// ASCII columns.
	for _, r := range s {
		if r <= ' ' || r >= 0x7f {
			return false
		}
	}
	return true
}

// IDArg is an id as an argument for its column: integer columns are
// compared as numbers, so that the index is used.
func IDArg(c Column, s string) any {
	if c.Kind == KindInt {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	return s
}

// CompareIDs orders two ids of a column the way the database does, for
// merging pages: numerically for integers.
func CompareIDs(c Column, a, b string) int {
	if c.Kind == KindInt {
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// dbTime is how DATETIME values are written and read (UTC).
const dbTime = "2006-01-02 15:04:05"

// FromColumn is a column's value as a record's data shows it: text as a
// string, numbers exactly, date-times in RFC 3339 (UTC), dates as
// YYYY-MM-DD, NULL as nil.
func FromColumn(c Column, raw *string) any {
	if raw == nil {
		return nil
	}
	s := *raw
	switch c.Kind {
	case KindInt, KindFloat, KindUnixTime:
		return json.Number(s)
	case KindTime:
		if t, err := time.Parse(dbTime, s); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
	case KindDate:
		if len(s) >= 10 {
			return s[:10]
		}
	}
	return s
}

// TimeOf reads a created_at or updated_at column; the zero time when it
// is NULL or unreadable.
func TimeOf(c *Column, raw *string) time.Time {
	if c == nil || raw == nil {
		return time.Time{}
	}
	switch c.Kind {
	case KindUnixTime:
		if n, err := strconv.ParseInt(*raw, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0).UTC()
		}
	case KindTime, KindDate:
		layout := dbTime
		if c.Kind == KindDate {
			layout = time.DateOnly
		}
		if t, err := time.Parse(layout, (*raw)[:min(len(*raw), len(layout))]); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// TimeArg is t as a value for a created_at or updated_at column.
func TimeArg(c Column, t time.Time) any {
	switch c.Kind {
	case KindUnixTime:
		return t.Unix()
	case KindDate:
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format(dbTime)
}

// ToColumn converts a value of a record's data (as JSON decodes it) into
// one the column holds, or says why it cannot: the message names what the
// column takes.
func ToColumn(c Column, v any) (any, error) {
	if v == nil {
		if !c.Nullable {
			return nil, fmt.Errorf("may not be null (column %s is NOT NULL)", c.Name)
		}
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindUnixTime:
		n, ok := wholeNumber(v)
		if !ok {
			return nil, fmt.Errorf("must be a whole number, got %s", describe(v))
		}
		return n, nil
	case KindFloat:
		n, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("must be a number, got %s", describe(v))
		}
		return n, nil
	case KindTime:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a date-time like 2026-01-31T09:30:00Z, got %s", describe(v))
		}
		for _, layout := range []string{time.RFC3339, dbTime} {
			if t, err := time.Parse(layout, s); err == nil {
				if t = t.UTC(); !inDateRange(t) {
					return nil, fmt.Errorf("must be a date-time from the year 1000 to 9999 (UTC), got %q", truncate(s))
				}
				return t.Format(dbTime), nil
			}
		}
		return nil, fmt.Errorf("must be a date-time like 2026-01-31T09:30:00Z, got %q", truncate(s))
	case KindDate:
		s, ok := v.(string)
		t, err := time.Parse(time.DateOnly, s)
		if !ok || err != nil {
			return nil, fmt.Errorf("must be a date like 2026-01-31, got %s", describe(v))
		}
		if !inDateRange(t) {
			return nil, fmt.Errorf("must be a date from the year 1000 to 9999, got %q", truncate(s))
		}
		return s, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be a string, got %s", describe(v))
	}
	if c.Size > 0 && utf8.RuneCountInString(s) > c.Size {
		return nil, fmt.Errorf("at most %d characters, got %d", c.Size, utf8.RuneCountInString(s))
	}
	return s, nil
}

// wholeNumber is v as an integer column holds it: exactly the number
// written, when it is a whole number that fits. A number spelt with a
// fraction or an exponent (1.0, 1e3) is read as a float64, and taken only
// where float64 holds every whole number.
func wholeNumber(v any) (int64, bool) {
	if n, ok := v.(json.Number); ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, true
		}
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// inDateRange reports whether t is within the range of MySQL's DATE and
// DATETIME columns, which refuse other years (and which crmguard's
// four-digit layouts could not write).
func inDateRange(t time.Time) bool { return t.Year() >= 1000 && t.Year() <= 9999 }

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// describe is a value for an error message: strings and numbers as they
// are, the rest by kind.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", truncate(v))
	case json.Number:
		return truncate(string(v))
	case float64, int, int64:
		return fmt.Sprint(v)
	}
	return crm.JSONKind(v)
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// Version is a record's version in adoption mode: a hash of everything
// crmguard reads of its row, so that If-Match sees a change the CRM made
// as well as one crmguard made. It fits in a JSON number and is never 0.
func Version(parts ...*string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		if p == nil {
			h.Write([]byte{0})
			continue
		}
		h.Write([]byte{1})
		h.Write([]byte(*p))
		h.Write([]byte{0})
	}
	v := int64(h.Sum64() & (1<<53 - 1))
	if v == 0 {
		v = 1
	}
	return v
}
