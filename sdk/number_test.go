package sdk_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crmguard/crmguard/sdk"
)

func TestNumbersEqual(t *testing.T) {
	long := "1" + strings.Repeat("234567890", 44)
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1", "1", true},
		{"1", "1.0", true},
		{"1", "10e-1", true},
		{"1", "0.1E1", true},
		{"1", "0.1e+1", true},
		{"-0", "0", true},
		{"0.0e5", "0", true},
		{"100", "1e2", true},
		{"120", "1.2E2", true},
		{"-1.5", "-15e-1", true},
		{"1e400", "10e399", true},
		{"1e400", "1e401", false},
		{long, long + ".000", true},
		{long, long + "1", false},
		{"0.1", "0.10000000000000001", false}, // one float64, two numbers
		{"1", "-1", false},
		{"1", "2", false},
		{"12", "21", false},
		{"1e9223372036854775807", "1e9223372036854775807", true},
		{"1e9223372036854775807", "10e9223372036854775806", true},
		{"10e9223372036854775807", "10e9223372036854775807", true}, // beyond an int64 once the digits' place is added
		{"1e99999999999999999999", "1e99999999999999999999", true},
		{"1e99999999999999999999", "1e+099999999999999999999", true},
		{"1e99999999999999999999", "1e-99999999999999999999", false},
		{"1e99999999999999999999", "2e99999999999999999999", false},
		{"1e" + strings.Repeat("9", 2000), "1e+" + strings.Repeat("9", 2000), true}, // compared as written
		{"1e" + strings.Repeat("9", 2000), "1e" + strings.Repeat("9", 1999) + "8", false},
		{"1", "1.", false}, // not JSON
		{"01", "1", false},
		{"", "", false},
		{"NaN", "NaN", false},
		{"0x10", "16", false},
	} {
		if got := sdk.NumbersEqual(json.Number(c.a), json.Number(c.b)); got != c.want {
			t.Errorf("NumbersEqual(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := sdk.NumbersEqual(json.Number(c.b), json.Number(c.a)); got != c.want {
			t.Errorf("NumbersEqual(%s, %s) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

// TestRecordOfKeepsNumbers: a record's data reaches a plugin with every
// number as the text the host sent, however large, long or small.
func TestRecordOfKeepsNumbers(t *testing.T) {
	long := "1" + strings.Repeat("234567890", 44)
	small := "-0." + strings.Repeat("0", 400) + "1"
	raw := `{"name":"Big","huge":1e400,"long":` + long + `,"small":` + small + `,"list":[1.50],"obj":{"n":7}}`
	r := sdk.RecordOf(sdk.WireRecord(&sdk.Record{ID: "r", Data: map[string]any{"x": 1}}))
	if n, ok := r.Data["x"].(json.Number); !ok || n != "1" {
		t.Fatalf("a number set by a plugin came back as %T %v", r.Data["x"], r.Data["x"])
	}
	wire := sdk.WireRecord(&sdk.Record{ID: "r"})
	wire.DataJson = []byte(raw)
	r = sdk.RecordOf(wire)
	for field, want := range map[string]json.Number{"huge": "1e400", "long": json.Number(long), "small": json.Number(small)} {
		if got, ok := r.Data[field].(json.Number); !ok || got != want {
			t.Errorf("data.%s: %T %v, want json.Number %s", field, r.Data[field], r.Data[field], want)
		}
	}
	if got := r.Data["list"].([]any)[0]; got != json.Number("1.50") {
		t.Errorf("a number in a list: %T %v", got, got)
	}
	if got := r.Data["obj"].(map[string]any)["n"]; got != json.Number("7") {
		t.Errorf("a number in an object: %T %v", got, got)
	}
	back, err := json.Marshal(r.Data)
	if err != nil || !strings.Contains(string(back), `"huge":1e400`) || !strings.Contains(string(back), `"small":`+small) {
		t.Fatalf("written back: %s, %v", back, err)
	}
}
