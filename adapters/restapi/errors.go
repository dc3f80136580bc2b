package restapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/domain"
)

// errorHandler answers any error a handler returns as JSON. Domain errors
// keep their code, parameter and message; echo's own (unknown route, wrong
// method) keep their status; anything else is logged in full and shown as
// "internal error". A 503 whose domain error wraps a cause (the
// database's) is logged with it, as a warning, with the request's id and
// filter as its access line has them. Nothing is logged for a client that
// left: its statement was stopped by our own cancel.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, body := httperror.FromError(err)
		var herr *echo.HTTPError
		var derr *domain.Error
		if !errors.As(err, &derr) && errors.As(err, &herr) {
			status = herr.Code
			code := map[int]string{404: "not_found", 405: "method_not_allowed"}[status]
			if code == "" {
				code = string(domain.EInvalid)
			}
			body = httperror.Body{Error: httperror.Detail{Code: code, Message: http.StatusText(status)}}
		}
		switch {
		case status == http.StatusServiceUnavailable && c.Request().Context().Err() != nil:
			// The client left; the statement stopped was our own cancel.
		case status == http.StatusServiceUnavailable && err != error(derr):
			// The database could not serve it now (its connection lost,
			// a statement stopped at its timeout): the client is told to
			// come back, the operator what the database said — a query
			// that times out every time is a slow query, not a blip.
			filter, _ := c.Get("filter").(string)
			log.Warn("request refused for now", "id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Path(), "filter", filter, "err", err)
		case status >= 500 && status != http.StatusServiceUnavailable:
			log.Error("request failed", "path", c.Path(), "err", err)
		}
		httperror.Write(c.Response(), status, body)
	}
}
