package contract_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// billingAccess accepts one token, for team billing: the rest is refused.
type billingAccess struct{}

func (billingAccess) Verify(token string) (domain.Scope, error) {
	if token != "billing-token" {
		return domain.Scope{}, &domain.Error{Code: domain.EUnauthorized, Message: "token refused"}
	}
	return domain.Scope{Teams: []string{"billing"}}, nil
}

// The OpenAPI document the server serves is a valid OpenAPI 3.1 document,
// and every answer of the server — tickets, pages, refusals, health — is
// what it describes.
func TestOpenAPI_DescribesWhatTheServerAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(restapi.OpenAPI)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	tickets := demodata.New(9).Tickets(300)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	newServer := func(src *portstest.Source) *httptest.Server {
		streamer, err := app.NewStreamer(src, app.Config{ChunkThreshold: 2048})
		if err != nil {
			t.Fatal(err)
		}
		s, err := restapi.New(restapi.Config{MaxRows: 100}, streamer, noStore{}, testCursors, billingAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	srv := newServer(&portstest.Source{Tickets: tickets})
	broken := newServer(&portstest.Source{Tickets: tickets, Err: errors.New("connection reset"), FailAfter: 40})

	for _, tc := range []struct {
		name, path, token, accept string
		srv                       *httptest.Server
		status                    int
	}{
		{"a page", "/v1/tickets?status=open,pending,solved,closed&limit=5", "billing-token", "", srv, 200},
		{"the last page", "/v1/tickets?team=billing", "billing-token", "", srv, 200},
		{"NDJSON", "/v1/tickets?limit=7", "billing-token", "application/x-ndjson", srv, 200},
		{"a sorted page", "/v1/tickets?sort=-priority,created_at&limit=5", "billing-token", "", srv, 200},
		{"a window, refused", "/v1/tickets?sort=-priority&window=5", "billing-token", "", srv, 400},
		{"an unknown sort field", "/v1/tickets?sort=subject", "billing-token", "", srv, 400},
		{"a stream that broke", "/v1/tickets", "billing-token", "", broken, 200},
		{"a bad filter", "/v1/tickets?status=opne", "billing-token", "", srv, 400},
		{"an unknown parameter", "/v1/tickets?stauts=open", "billing-token", "", srv, 400},
		{"over the row limit", "/v1/tickets?limit=101", "billing-token", "", srv, 400},
		{"a forged cursor", "/v1/tickets?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "billing-token", "", srv, 400},
		{"no token", "/v1/tickets", "", "", srv, 401},
		{"another team", "/v1/tickets?team=sales", "billing-token", "", srv, 403},
		{"a missing ticket", "/v1/tickets/12", "billing-token", "", srv, 404},
		{"an id that is not a number", "/v1/tickets/twelve", "billing-token", "", srv, 400},
		{"the session", "/v1/session", "billing-token", "", srv, 200},
		{"a refused session", "/v1/session", "forged", "", srv, 401},
		{"health", "/healthz", "", "", srv, 200},
		{"readiness of a server whose database is down", "/readyz", "", "", srv, 503},
		{"the document itself", "/v1/openapi.json", "", "", srv, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tc.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("the document has no route for %s: %v", tc.path, err)
			}
			input := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 resp.StatusCode,
				Header:                 resp.Header,
				Body:                   io.NopCloser(bytes.NewReader(body)),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
			}
			if tc.accept == "application/x-ndjson" {
				input.Options.ExcludeResponseBody = true
				checkNDJSON(t, doc, route, body)
			}
			if err := openapi3filter.ValidateResponse(ctx, input); err != nil {
				t.Fatalf("the answer is not what the document describes: %v\n%s", err, body)
			}
		})
	}
}

// checkNDJSON checks every line of an NDJSON body against the document's
// Ticket schema: the validator decodes one JSON value per body.
func checkNDJSON(t *testing.T, doc *openapi3.T, _ *routers.Route, body []byte) {
	t.Helper()
	schema := doc.Components.Schemas["Ticket"].Value
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines+1, err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Fatalf("line %d is not a Ticket: %v", lines+1, err)
		}
		lines++
	}
	if lines == 0 {
		t.Fatal("no tickets")
	}
}

// The socket's schemas in docs/schemas describe tickets exactly as the
// OpenAPI document does: both accept and refuse the same tickets.
func TestOpenAPI_TicketIsTheSocketSchemasTicket(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(restapi.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	api := doc.Components.Schemas["Ticket"].Value
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	socket, err := c.Compile(filepath.Join("..", "..", "docs", "schemas", "ticket.json"))
	if err != nil {
		t.Fatal(err)
	}
	valid := `{"id":7,"team":"billing","subject":"s","status":"open","priority":"low","requester":"r@example.com","assignee":"","tags":["a"],"created_at":"2026-05-01T12:00:00Z","updated_at":"2026-05-01T12:00:00.5Z"}`
	for _, tc := range []struct{ name, json string }{
		{"valid", valid},
		{"no id", strings.Replace(valid, `"id":7,`, ``, 1)},
		{"id 0", strings.Replace(valid, `"id":7`, `"id":0`, 1)},
		{"unknown status", strings.Replace(valid, `"open"`, `"opne"`, 1)},
		{"unknown priority", strings.Replace(valid, `"low"`, `"lowest"`, 1)},
		{"empty team", strings.Replace(valid, `"billing"`, `""`, 1)},
		{"a field more", strings.Replace(valid, `"id":7`, `"id":7,"x":1`, 1)},
		{"tags not strings", strings.Replace(valid, `["a"]`, `[1]`, 1)},
		{"a time that is not one", strings.Replace(valid, `"2026-05-01T12:00:00Z"`, `"yesterday"`, 1)},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
			t.Fatal(err)
		}
		apiErr, socketErr := api.VisitJSON(v), socket.Validate(v)
		if (apiErr == nil) != (socketErr == nil) || (apiErr == nil) != (tc.name == "valid") {
			t.Errorf("%s: OpenAPI says %v, docs/schemas/ticket.json says %v", tc.name, apiErr, socketErr)
		}
	}
}
