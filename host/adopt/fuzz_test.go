package adopt

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzIDValues feeds the id helpers two ids of an adopted CRM's id column,
// integer or text. An id ValidID accepts is the one spelling of its
// value, the argument IDArg makes of it is that value, and CompareIDs
// orders such ids as the database does: a total order in which only the
// same id is equal.
func FuzzIDValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string, textIDs bool, size uint8) {
		c := Column{Name: "id", Kind: KindInt}
		if textIDs {
			c = Column{Name: "id", Kind: KindText, Size: int(size)}
		}
		for _, id := range []string{a, b} {
			if !ValidID(c, id) {
				continue
			}
			switch arg := IDArg(c, id).(type) {
			case int64:
				if c.Kind != KindInt || strconv.FormatInt(arg, 10) != id {
					t.Fatalf("id %q of a %s column is the argument %d", id, c.Kind, arg)
				}
			case string:
				if c.Kind != KindText || arg != id {
					t.Fatalf("id %q of a %s column is the argument %q", id, c.Kind, arg)
				}
				if c.Size > 0 && utf8.RuneCountInString(id) > c.Size {
					t.Fatalf("id %q is longer than its column (%d)", id, c.Size)
				}
				for _, r := range id {
					if r <= ' ' || r >= 0x7f {
						t.Fatalf("id %q holds %q, which crmguard's ASCII id columns cannot", id, r)
					}
				}
			default:
				t.Fatalf("id %q is the argument %#v", id, arg)
			}
		}
		if !ValidID(c, a) || !ValidID(c, b) {
			return
		}
		ab, ba := CompareIDs(c, a, b), CompareIDs(c, b, a)
		if ab != -ba || (ab == 0) != (a == b) || CompareIDs(c, a, a) != 0 {
			t.Fatalf("CompareIDs(%q, %q) = %d, reversed %d", a, b, ab, ba)
		}
		if c.Kind == KindInt {
			x, y := IDArg(c, a).(int64), IDArg(c, b).(int64)
			if (x < y) != (ab < 0) {
				t.Fatalf("CompareIDs(%q, %q) = %d, but %d < %d is %v", a, b, ab, x, y, x < y)
			}
		}
	})
}

// goWords are the words of Go's own errors that a message for a person
// must not hold, unless it quotes them from the input.
var goWords = []string{"Go ", "struct", "int64", "float64", "json.Number", "map[", "[]", "interface", "%!"}

// FuzzColumnValues feeds ToColumn a value of a record's data, as the API
// decodes it (JSON with exact numbers), for each kind of column. A value
// it takes is one the column holds, exactly: a whole number stays the
// number written; read back from the column (FromColumn) it converts to
// the same value again. A value it refuses gets a message for a person.
func FuzzColumnValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind uint8, size uint8, nullable bool, value string) {
		c := Column{Name: "c", Kind: Kind(int(kind) % (int(KindUnixTime) + 1)), Size: int(size), Nullable: nullable}
		var v any = strings.ToValidUTF8(value, "\uFFFD") // not JSON: a string
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		var decoded any
		if dec.Decode(&decoded) == nil && !dec.More() {
			v = decoded
		}
		out, err := ToColumn(c, v)
		if err != nil {
			msg := err.Error()
			if len(msg) > 300 || !utf8.ValidString(msg) {
				t.Fatalf("%s column, %#v: message of %d bytes: %.200q", c.Kind, v, len(msg), msg)
			}
			for _, w := range goWords {
				if strings.Contains(msg, w) && !strings.Contains(value, w) {
					t.Fatalf("%s column, %#v: message %q speaks Go (%q)", c.Kind, v, msg, w)
				}
			}
			return
		}
		if v == nil {
			if out != nil || !c.Nullable {
				t.Fatalf("null into a %s column (nullable %v): %#v", c.Kind, c.Nullable, out)
			}
			return
		}
		var raw string // the value as the database returns it
		switch c.Kind {
		case KindInt, KindUnixTime:
			n, ok := out.(int64)
			if !ok {
				t.Fatalf("%#v into an integer column: %#v", v, out)
			}
			if num, isNum := v.(json.Number); isNum {
				if exact, err := strconv.ParseInt(string(num), 10, 64); err == nil && exact != n {
					t.Fatalf("%s into an integer column: wrote %d", num, n)
				}
			}
			raw = strconv.FormatInt(n, 10)
		case KindFloat:
			n, ok := out.(float64)
			if !ok || math.IsInf(n, 0) || math.IsNaN(n) {
				t.Fatalf("%#v into a number column: %#v", v, out)
			}
			raw = strconv.FormatFloat(n, 'g', -1, 64)
		case KindTime:
			s, ok := out.(string)
			if tm, err := time.Parse(dbTime, s); !ok || err != nil || tm.Format(dbTime) != s {
				t.Fatalf("%#v into a DATETIME column: %#v, which reads back as %v", v, out, err)
			}
			raw = s
			if got := TimeOf(&c, &raw); got.Format(dbTime) != s {
				t.Fatalf("DATETIME %q reads as %v", s, got)
			}
		case KindDate:
			s, ok := out.(string)
			if tm, err := time.Parse(time.DateOnly, s); !ok || err != nil || tm.Format(time.DateOnly) != s {
				t.Fatalf("%#v into a DATE column: %#v, which reads back as %v", v, out, err)
			}
			raw = s
		default:
			s, ok := out.(string)
			if !ok || s != v || c.Size > 0 && utf8.RuneCountInString(s) > c.Size {
				t.Fatalf("%#v into a text column of %d: %#v", v, c.Size, out)
			}
			raw = s
		}
		back := FromColumn(c, &raw)
		again, err := ToColumn(c, back)
		if err != nil || again != out {
			t.Fatalf("%s column: %#v was written as %#v, reads back as %#v, which writes as %#v, %v", c.Kind, v, out, back, again, err)
		}
		if n, ok := back.(json.Number); ok {
			var b bytes.Buffer
			if err := json.NewEncoder(&b).Encode(map[string]any{"n": n}); err != nil {
				t.Fatalf("%s column: %q reads back as the number %q, which is not JSON: %v", c.Kind, raw, n, err)
			}
		}
	})
}
