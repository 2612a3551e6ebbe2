// Package domain holds HealthHub's domain types, the storage interfaces the
// services depend on, and the coded errors every layer speaks. It imports
// nothing else from the project.
package domain

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status in one place.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ERATELIMITED  = "rate_limited"
	EUNAVAILABLE  = "unavailable"
	ETOOLARGE     = "too_large"
	// EGONE: what was asked for is no longer kept (a sync cursor older
	// than the change log's horizon).
	EGONE = "gone"
)

// Error is an error a person can act on: a code from the list above and a
// message safe to show to the caller. Field names the offending input where
// there is one.
type Error struct {
	Code    string
	Message string
	Field   string
	// RetryAfter is set on rate_limited errors, in whole seconds.
	RetryAfter int
	// cause is kept for logs and errors.Is, never shown to a caller.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an invalid-input error about one field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps an infrastructure failure (database down, upstream gone)
// so callers see a 503 while the cause stays in the logs.
func Unavailable(cause error, format string, args ...any) *Error {
	return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf(format, args...), cause: cause}
}

// ErrorCode returns the code of err, or EINTERNAL when err carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err; internal errors get a
// generic message so nothing about the system leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
