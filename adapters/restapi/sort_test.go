package restapi_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A sorted list comes in its order and pages through sealed cursors of the
// sort's key, in JSON and NDJSON alike; a cursor of another order, an
// altered one and a window are refused with a 400 naming the parameter.
func TestListTickets_SortedPagesFollowTheSort(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(4).Tickets(230)
	srv, _ := newServer(t, &portstest.Source{Tickets: tickets})
	get := func(t *testing.T, query, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/tickets?"+query, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body
	}
	// page reads one page and returns its ids and next cursor.
	page := func(t *testing.T, query, accept string) ([]int64, string) {
		t.Helper()
		resp, body := get(t, query, accept)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, %.300s", query, resp.StatusCode, body)
		}
		var ids []int64
		if accept == "" {
			var p struct {
				Tickets    []domain.Ticket `json:"tickets"`
				NextCursor *string         `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			for _, tk := range p.Tickets {
				ids = append(ids, tk.ID)
			}
			if p.NextCursor == nil {
				return ids, ""
			}
			return ids, *p.NextCursor
		}
		for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			if line == "" {
				continue
			}
			var tk domain.Ticket
			if err := json.Unmarshal([]byte(line), &tk); err != nil {
				t.Fatalf("%s: line %q: %v", query, line, err)
			}
			ids = append(ids, tk.ID)
		}
		return ids, resp.Trailer.Get(restapi.TrailerNextCursor)
	}

	for _, text := range []string{"-priority,created_at", "team,-assignee", "-status,updated_at,-created_at"} {
		sort, _ := domain.ParseSort(text)
		want := slices.Clone(tickets)
		slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
		var wantIDs []int64
		for _, tk := range want {
			wantIDs = append(wantIDs, tk.ID)
		}
		for _, accept := range []string{"", "application/x-ndjson"} {
			var got []int64
			cursor := ""
			for range 20 {
				q := url.Values{"sort": {text}, "limit": {"50"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				ids, next := page(t, q.Encode(), accept)
				got = append(got, ids...)
				if cursor = next; cursor == "" {
					break
				}
			}
			if !slices.Equal(got, wantIDs) {
				t.Fatalf("sort=%s, Accept %q: pages gave\n%v\nwant\n%v", text, accept, got, wantIDs)
			}
		}
	}

	sortA, _ := domain.ParseSort("-priority,created_at")
	k := domain.KeyOf(&tickets[3])
	genuine := testCursors.SortCursorString(sortA, &k)
	raw, _ := base64.RawURLEncoding.DecodeString(genuine)
	raw[5] ^= 1
	altered := base64.RawURLEncoding.EncodeToString(raw)
	plain := testCursors.CursorString(tickets[3].Cursor())
	for _, tc := range []struct{ name, query, param, says string }{
		{"another sort", "sort=priority,created_at&cursor=" + genuine, "cursor", "another sort"},
		{"no sort", "cursor=" + genuine, "cursor", "sorted page"},
		{"a default-order cursor", "sort=-priority,created_at&cursor=" + plain, "cursor", "default order"},
		{"altered", "sort=-priority,created_at&cursor=" + altered, "cursor", "not issued by this server"},
		{"a window", "sort=-priority&window=50", "window", "live subscription"},
		{"an unknown field", "sort=subject", "sort", "unknown field"},
	} {
		for _, accept := range []string{"", "application/x-ndjson"} {
			resp, body := get(t, tc.query, accept)
			var e struct {
				Error struct{ Code, Param, Message string } `json:"error"`
			}
			if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e.Error.Code != "invalid" || e.Error.Param != tc.param || !strings.Contains(e.Error.Message, tc.says) {
				t.Errorf("%s, Accept %q: status %d, %s; want a 400 invalid %s saying %q", tc.name, accept, resp.StatusCode, body, tc.param, tc.says)
			}
		}
	}
}
