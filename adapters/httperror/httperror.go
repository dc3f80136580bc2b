// Package httperror is the one translation of domain errors into HTTP that
// the HTTP adapters (restapi, wsgateway) share: the status of each code and
// the JSON body {"error":{"code","param","message"}}.
package httperror

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ticketstream/ticketstream/domain"
)

// Body is every error response.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the error inside a Body.
type Detail struct {
	Code    string `json:"code"`
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

// Status maps a domain error code to its HTTP status.
func Status(code domain.Code) int {
	switch code {
	case domain.EInvalid:
		return http.StatusBadRequest
	case domain.EUnauthorized:
		return http.StatusUnauthorized
	case domain.EForbidden:
		return http.StatusForbidden
	case domain.ENotFound:
		return http.StatusNotFound
	case domain.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// FromError returns the status and body for err: a domain error keeps its
// code, parameter and message (but an internal one says only "internal
// error"); anything else is an internal error.
func FromError(err error) (int, Body) {
	var derr *domain.Error
	if !errors.As(err, &derr) || derr.Code == domain.EInternal {
		return http.StatusInternalServerError, Body{Detail{Code: string(domain.EInternal), Message: "internal error"}}
	}
	return Status(derr.Code), Body{Detail{Code: string(derr.Code), Param: derr.Param, Message: derr.Message}}
}

// Write answers with status and body as JSON, adding the WWW-Authenticate
// challenge to a 401.
func Write(w http.ResponseWriter, status int, body Body) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ticketstream"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteError answers err as FromError maps it.
func WriteError(w http.ResponseWriter, err error) {
	status, body := FromError(err)
	Write(w, status, body)
}
