package crm

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller did wrong (or what went wrong
// on our side), so that every transport maps it to a response in one place.
type Kind int

// The kinds of error; the comment gives the HTTP status they map to.
const (
	KindInternal        Kind = iota // 500: a bug or an unexpected failure; the message is not shown
	KindInvalid                     // 400: the request is malformed or breaks a rule of the input
	KindUnauthenticated             // 401: no credentials, or credentials we do not recognise
	KindForbidden                   // 403: the caller sees the thing but may not do this to it
	KindNotFound                    // 404: missing, or invisible to the caller (never told apart)
	KindConflict                    // 409: the change clashes with the current state
	KindPrecondition                // 412: If-Match named a version that is no longer current
	KindTooLarge                    // 413: the body is over the limit
	KindRateLimited                 // 429: too many attempts or calls at once; try again later
	KindUnavailable                 // 503: a dependency cannot answer right now
	KindPlugin                      // 500: a plugin failed on this request (it runs: unlike KindUnavailable, it answered)
)

// Error is an error whose code and message are safe to show to the caller.
// Code is a stable snake_case identifier for programs; Message is a sentence
// for people and must never contain data the caller may not see.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// RetryAfter, when set, is how long the caller should wait before
	// trying again (HTTP's Retry-After, in whole seconds, rounded up).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error, the most common kind of input error.
func Invalid(code, format string, args ...any) *Error {
	return Errorf(KindInvalid, code, format, args...)
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err; errors that are not *Error are internal.
func KindOf(err error) Kind {
	if e, ok := AsError(err); ok {
		return e.Kind
	}
	return KindInternal
}

// ErrRecordNotFound is the one answer for a record that does not exist and
// for a record the caller may not see, so that existence never leaks.
var ErrRecordNotFound = &Error{Kind: KindNotFound, Code: "not_found", Message: "record not found"}
