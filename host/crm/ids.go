package crm

import (
	"crypto/rand"
	"net/mail"
	"regexp"
	"strings"

	"github.com/oklog/ulid/v2"
)

// NewID returns a new identifier: a ULID, so ids sort by creation time and
// keyset pagination over them is stable.
func NewID() string { return ulid.MustNew(ulid.Now(), idEntropy).String() }

// idEntropy is the random part of new ids, read from crypto/rand and
// increased at random within a millisecond (ulid.Make's source is math/rand
// seeded with the time the process started). Nobody can work out an id
// before it is made, so nobody can ask about a record before it exists:
// the host caches that a record does not exist as it caches a record, and
// such an answer must never outlive the record's creation.
var idEntropy = &ulid.LockedMonotonicReader{MonotonicReader: ulid.Monotonic(rand.Reader, 0)}

// ValidateID checks that s is a well-formed identifier; field names the
// input in the error message.
func ValidateID(field, s string) error {
	if _, err := ulid.ParseStrict(s); err != nil || strings.ToUpper(s) != s {
		return Invalid("invalid_id", "%s: %q is not a valid id (ids are 26-character ULIDs)", field, Truncate(s, 40))
	}
	return nil
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidateSlug checks an install's slug: lower-case letters, digits and
// dashes, 2 to 63 characters, starting with a letter or digit.
func ValidateSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return Invalid("invalid_slug", "slug: %q must be 2 to 63 lower-case letters, digits or dashes, starting with a letter or digit", Truncate(slug, 70))
	}
	return nil
}

// NormalizeEmail validates an e-mail address and returns it in lower case,
// the form in which addresses are unique within an install.
func NormalizeEmail(email string) (string, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) || len(email) > 254 {
		return "", Invalid("invalid_email", "email: %q is not an e-mail address", Truncate(email, 80))
	}
	return strings.ToLower(addr.Address), nil
}

var roleNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,63}$`)

// ValidateRoleName checks a role name: lower case, 2 to 64 characters.
func ValidateRoleName(name string) error {
	if !roleNamePattern.MatchString(name) {
		return Invalid("invalid_role", "role: %q must be 2 to 64 lower-case letters, digits, dashes or underscores, starting with a letter", Truncate(name, 70))
	}
	return nil
}

// Truncate shortens input echoed in an error message to n runes.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
