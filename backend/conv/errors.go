package conv

import (
	"errors"
	"fmt"
)

// Code is a stable error code carried on the wire.
type Code string

// Rejection codes of DESIGN §5 that the reducer produces.
const (
	CodeStale              Code = "stale"
	CodeNoSuchThread       Code = "no_such_thread"
	CodeNoSuchConversation Code = "no_such_conversation"
	CodeForbidden          Code = "forbidden"
	CodeUnknownAttribute   Code = "unknown_attribute"
	CodeInvalidAttribute   Code = "invalid_attribute"
	CodeConflict           Code = "conflict"
	CodeInvalid            Code = "invalid"
	CodeTooLarge           Code = "too_large"
)

// Error is a rejected event: a stable code and a message for people.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is lets errors.Is match any *Error with the same code, so callers can
// branch on the sentinels below.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Sentinels to match with errors.Is.
var (
	ErrStale              = &Error{Code: CodeStale}
	ErrNoSuchThread       = &Error{Code: CodeNoSuchThread}
	ErrNoSuchConversation = &Error{Code: CodeNoSuchConversation}
	ErrForbidden          = &Error{Code: CodeForbidden}
	ErrUnknownAttribute   = &Error{Code: CodeUnknownAttribute}
	ErrInvalidAttribute   = &Error{Code: CodeInvalidAttribute}
	ErrConflict           = &Error{Code: CodeConflict}
	ErrInvalid            = &Error{Code: CodeInvalid}
	ErrTooLarge           = &Error{Code: CodeTooLarge}
)

func reject(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the stable code of err, or CodeInvalid when err carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInvalid
}

// Outcome is what the relay answered for one pushed event: logged with a
// seq (0: accepted but changed nothing), or rejected with Err.
type Outcome struct {
	ID  string
	Seq uint64
	Err *Error // nil unless rejected
}
