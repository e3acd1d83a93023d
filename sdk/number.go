package sdk

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// NumbersEqual reports whether two JSON numbers are the same number,
// exactly: "1", "1.0", "10e-1" and "0.1E1" are, and so are "-0" and "0";
// "0.1" and "0.10000000000000001" are not, although they are the same
// float64. It reads the texts rather than computing their values, so that
// a number costs little more than its length, whatever its exponent. A
// text that is not a JSON number equals nothing. Numbers whose exponent
// has more than 1,000 digits are equal only when written with the same
// exponent.
func NumbersEqual(a, b json.Number) bool {
	x, ok := decimalOf(string(a))
	if !ok {
		return false
	}
	y, ok := decimalOf(string(b))
	return ok && x == y
}

// jsonNumber is the grammar of a JSON number (RFC 8259).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// maxExpDigits bounds the exponents added up exactly: beyond an int64 it
// takes big.Int, whose cost grows with the square of the digits.
const maxExpDigits = 1000

// decimal is a number as sign × 0.digits × 10^exp, its digits without
// leading or trailing zeros; zero has no digits. exp is in decimal.
type decimal struct {
	neg    bool
	digits string
	exp    string
}

func decimalOf(s string) (decimal, bool) {
	if !jsonNumber.MatchString(s) {
		return decimal{}, false
	}
	var d decimal
	s, d.neg = strings.CutPrefix(s, "-")
	mantissa, expText := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa, expText = s[:i], strings.TrimPrefix(s[i+1:], "+")
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	// The first significant digit's place: the whole part's length, less
	// the zeros before that digit.
	point := int64(len(whole)) - int64(len(whole+frac)-len(digits))
	d.digits = strings.TrimRight(digits, "0")
	if d.digits == "" {
		return decimal{}, true // zero, signed or not
	}
	if exp, err := strconv.ParseInt(expText, 10, 64); err == nil {
		if sum := exp + point; (point <= 0 || sum > exp) && (point >= 0 || sum < exp) {
			d.exp = strconv.FormatInt(sum, 10)
			return d, true
		}
	}
	if len(expText) <= maxExpDigits+1 {
		exp, _ := new(big.Int).SetString(expText, 10)
		d.exp = exp.Add(exp, big.NewInt(point)).String()
		return d, true
	}
	expDigits, negative := strings.CutPrefix(expText, "-")
	expText = strings.TrimLeft(expDigits, "0")
	if negative && expText != "" {
		expText = "-" + expText
	}
	d.exp = expText + "~" + strconv.FormatInt(point, 10)
	return d, true
}
