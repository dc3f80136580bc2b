package httperror_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/domain"
)

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		body   httperror.Detail
	}{
		{domain.Invalidf("status", "unknown"), 400, httperror.Detail{Code: "invalid", Param: "status", Message: "unknown"}},
		{&domain.Error{Code: domain.EUnauthorized, Message: "token expired"}, 401, httperror.Detail{Code: "unauthorized", Message: "token expired"}},
		{&domain.Error{Code: domain.EForbidden, Message: "no"}, 403, httperror.Detail{Code: "forbidden", Message: "no"}},
		{&domain.Error{Code: domain.ENotFound, Message: "no ticket"}, 404, httperror.Detail{Code: "not_found", Message: "no ticket"}},
		{&domain.Error{Code: domain.EUnavailable, Message: "db down"}, 503, httperror.Detail{Code: "unavailable", Message: "db down"}},
		{&domain.Error{Code: domain.EInternal, Message: "secret detail"}, 500, httperror.Detail{Code: "internal", Message: "internal error"}},
		{errors.New("disk on fire"), 500, httperror.Detail{Code: "internal", Message: "internal error"}},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		httperror.WriteError(rec, tc.err)
		var body httperror.Body
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status || body.Error != tc.body {
			t.Fatalf("%v: %d %s, want %d %+v", tc.err, rec.Code, rec.Body, tc.status, tc.body)
		}
		if (rec.Code == 401) != (rec.Header().Get("WWW-Authenticate") != "") {
			t.Fatalf("%v: WWW-Authenticate %q", tc.err, rec.Header().Get("WWW-Authenticate"))
		}
	}
}
