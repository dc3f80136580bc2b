package restapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

type openAccess struct{}

func (openAccess) Verify(string) (domain.Scope, error) { return domain.Scope{AllTeams: true}, nil }

// testCursors seals the cursors of the test server.
var testCursors = func() *domain.CursorSealer {
	s, err := domain.NewCursorSealer([]byte("the REST tests' cursor key, 16+"))
	if err != nil {
		panic(err)
	}
	return s
}()

type noStore struct{}

func (noStore) Ticket(context.Context, int64) (domain.Ticket, error) {
	return domain.Ticket{}, &domain.Error{Code: domain.ENotFound, Message: "no ticket"}
}
func (noStore) Ready(context.Context) error { return errors.New("down") }

func newServer(t *testing.T, src *portstest.Source) (*httptest.Server, *app.Streamer) {
	t.Helper()
	streamer, err := app.NewStreamer(src, apptest.Poisoned(app.Config{ChunkThreshold: 2048}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := restapi.New(restapi.Config{}, streamer, noStore{}, testCursors, openAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, streamer
}

// TestListTickets_StreamFailingMidwayStillEndsTheDocument: once the status
// is sent the error cannot be a status any more, so the document (or the
// trailers) say the stream broke, and no buffer is left behind.
func TestListTickets_StreamFailingMidwayStillEndsTheDocument(t *testing.T) {
	t.Parallel()
	src := &portstest.Source{Tickets: demodata.New(1).Tickets(500), Err: errors.New("connection reset"), FailAfter: 200}
	srv, streamer := newServer(t, src)

	resp, err := http.Get(srv.URL + "/v1/tickets")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Tickets []json.RawMessage `json:"tickets"`
		Error   *struct{ Code, Message string }
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || doc.Error == nil || doc.Error.Code != "internal" {
		t.Fatalf("status %d, body %.300s: want a complete JSON document ending with an error", resp.StatusCode, body)
	}
	if len(doc.Tickets) == 0 || len(doc.Tickets) > 200 {
		t.Fatalf("%d tickets before the failure", len(doc.Tickets))
	}
	if strings.Contains(string(body), "connection reset") {
		t.Fatal("an internal error's detail reached the client")
	}

	req, _ := http.NewRequest("GET", srv.URL+"/v1/tickets", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get(restapi.TrailerError) == "" {
		t.Fatal("an NDJSON stream that broke has no error trailer")
	}
	if n := streamer.PoolStats().InUse(); n != 0 {
		t.Fatalf("%d buffers in use", n)
	}
}

func TestRoutes_AnswerJSONErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, &portstest.Source{Err: errors.New("db down")})
	tests := []struct {
		method, path string
		header       string
		status       int
		code         string
	}{
		{"GET", "/v1/tickets", "", 500, "internal"},
		{"GET", "/v1/tickets?limit=abc", "", 400, "invalid"},
		{"GET", "/v1/tickets", "Basic dXNlcjpwYXNz", 401, "unauthorized"},
		{"GET", "/v1/tickets/7", "", 404, "not_found"},
		{"GET", "/readyz", "", 503, "unavailable"},
		{"POST", "/v1/tickets", "", 405, "method_not_allowed"},
		{"GET", "/nowhere", "", 404, "not_found"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error struct{ Code string } }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || body.Error.Code != tc.code {
			t.Fatalf("%s %s = %d %q (%v), want %d %q", tc.method, tc.path, resp.StatusCode, body.Error.Code, err, tc.status, tc.code)
		}
	}
}
