package domain

import (
	"errors"
	"fmt"
)

// Code classifies an Error so that adapters can translate it without parsing
// messages: restapi maps EInvalid to 400, wsgateway maps it to close 1008.
type Code string

// The error codes the core and its adapters share.
const (
	// EInvalid marks input that fails validation: a bad filter, cursor or limit.
	EInvalid Code = "invalid"
	// ENotFound marks a ticket (or other resource) that does not exist.
	ENotFound Code = "not_found"
	// EUnauthorized marks a request without valid credentials.
	EUnauthorized Code = "unauthorized"
	// EForbidden marks credentials that do not allow what was asked.
	EForbidden Code = "forbidden"
	// EUnavailable marks a dependency (the database) that cannot be reached now.
	EUnavailable Code = "unavailable"
	// EInternal marks everything else; its details are logged, never shown.
	EInternal Code = "internal"
)

// Error is an error with a machine-readable Code, the name of the input
// parameter it concerns (if any) and a message fit to show to the user.
type Error struct {
	Code    Code
	Param   string // the offending input parameter ("status", "cursor"), or ""
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Param, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Invalidf returns an EInvalid error about param with a formatted message.
func Invalidf(param, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
