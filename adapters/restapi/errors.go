package restapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ticketstream/ticketstream/domain"
)

// statusOf maps a domain error code to its HTTP status.
func statusOf(code domain.Code) int {
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

// errorBody is every error response: {"error":{"code","param","message"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Param   string `json:"param,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorHandler answers any error a handler returns as JSON. Domain errors
// keep their code, parameter and message; echo's own (unknown route, wrong
// method) keep their status; anything else is logged in full and shown as
// "internal error".
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var body errorBody
		status := http.StatusInternalServerError
		var derr *domain.Error
		var herr *echo.HTTPError
		switch {
		case errors.As(err, &derr):
			status = statusOf(derr.Code)
			body.Error.Code, body.Error.Param, body.Error.Message = string(derr.Code), derr.Param, derr.Message
			if derr.Code == domain.EInternal {
				body.Error.Message = "internal error"
			}
		case errors.As(err, &herr):
			status = herr.Code
			body.Error.Code = map[int]string{404: "not_found", 405: "method_not_allowed"}[status]
			if body.Error.Code == "" {
				body.Error.Code = "invalid"
			}
			body.Error.Message = http.StatusText(status)
		default:
			body.Error.Code, body.Error.Message = string(domain.EInternal), "internal error"
		}
		if status >= 500 && status != http.StatusServiceUnavailable {
			log.Error("request failed", "path", c.Path(), "err", err)
		}
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ticketstream"`)
		}
		if err := c.JSON(status, body); err != nil {
			log.Debug("write error response", "err", err)
		}
	}
}
