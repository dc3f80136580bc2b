package restapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// errBusy is what the store returns for a statement the database stopped:
// an EUnavailable error wrapping the database's own.
var errBusy = fmt.Errorf("stream tickets: %w", fmt.Errorf("%w: %w",
	&domain.Error{Code: domain.EUnavailable, Message: "database busy: canceling statement due to statement timeout"},
	errors.New("ERROR: canceling statement due to statement timeout (SQLSTATE 57014)")))

// leavingStore is the store of a single ticket whose query the database
// stops: at once, or — when the client leaves first — once it has left,
// as our own cancel would.
type leavingStore struct{ waitForLeave bool }

func (l leavingStore) Ticket(ctx context.Context, _ int64) (domain.Ticket, error) {
	if l.waitForLeave {
		<-ctx.Done()
	}
	return domain.Ticket{}, errBusy
}
func (leavingStore) Ready(context.Context) error { return nil }

// A request the database could not serve now is answered 503 and logged
// as a warning with the database's error, the request's id and filter: a
// query that times out every time is a slow query to find. A client that
// left first logs nothing: the statement stopped was our own cancel.
func TestErrors_ARefusalForNowIsLoggedWithItsCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		leave    bool // the client gives up before the answer
		wantWarn []string
	}{
		{"a list the database stopped", "/v1/tickets?status=open", false, []string{`"id":"req-7f3a"`, `status=open"`, "SQLSTATE 57014"}},
		{"a ticket the database stopped", "/v1/tickets/7", false, []string{`"id":"req-7f3a"`, "SQLSTATE 57014"}},
		{"a ticket whose client left first", "/v1/tickets/7", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &portstest.Source{StreamTicketsFn: func(context.Context, domain.Query, int, ports.BatchHandler) error { return errBusy }}
			streamer, err := app.NewStreamer(src, apptest.Poisoned(app.Config{}))
			if err != nil {
				t.Fatal(err)
			}
			logs := &portstest.LogBuffer{}
			s, err := restapi.New(restapi.Config{}, streamer, leavingStore{waitForLeave: tc.leave}, testCursors, openAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, slog.New(slog.NewJSONHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			t.Cleanup(srv.Close)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.leave {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+tc.path, nil)
			req.Header.Set("X-Request-Id", "req-7f3a")
			resp, err := http.DefaultClient.Do(req)
			if !tc.leave {
				if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("answer: %v, %v; want 503", resp, err)
				}
				resp.Body.Close()
			} else if err == nil {
				resp.Body.Close()
			}
			portstest.Await(t, "the request's access line", func() bool { return strings.Contains(logs.String(), `"msg":"request"`) })
			var warning string
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `"msg":"request refused for now"`) {
					warning = line
				}
			}
			if (warning != "") != (tc.wantWarn != nil) {
				t.Fatalf("warning %q, want one: %v\n%s", warning, tc.wantWarn != nil, logs.String())
			}
			for _, want := range tc.wantWarn {
				if !strings.Contains(warning, want) {
					t.Errorf("the warning lacks %s: %s", want, warning)
				}
			}
		})
	}
}
