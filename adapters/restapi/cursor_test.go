package restapi_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Pages follow each other through sealed cursors; a cursor the server did
// not hand out as it stands is refused with a 400 JSON error that says to
// start again — never used as a position.
func TestListTickets_CursorsAreSealed(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(9).Tickets(50)
	srv, _ := newServer(t, &portstest.Source{Tickets: tickets})
	all := portstest.SortedTickets(tickets)

	get := func(t *testing.T, query string, accept string) (*http.Response, []byte) {
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

	resp, body := get(t, "limit=20", "")
	var page struct {
		Tickets    []domain.Ticket `json:"tickets"`
		NextCursor string          `json:"next_cursor"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil || page.NextCursor == "" {
		t.Fatalf("first page: status %d, %.200s", resp.StatusCode, body)
	}
	if c, err := testCursors.OpenCursor(page.NextCursor); err != nil || c != all[19].Cursor() {
		t.Fatalf("next_cursor %q opens as %v, %v; want the 20th ticket's position", page.NextCursor, c, err)
	}
	resp, body = get(t, "limit=20&cursor="+page.NextCursor, "")
	if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil || len(page.Tickets) != 20 || page.Tickets[0].ID != all[20].ID {
		t.Fatalf("second page: status %d, %.200s", resp.StatusCode, body)
	}
	resp, _ = get(t, "limit=20", "application/x-ndjson")
	if c, err := testCursors.OpenCursor(resp.Trailer.Get(restapi.TrailerNextCursor)); err != nil || c != all[19].Cursor() {
		t.Fatalf("the NDJSON trailer's cursor opens as %v, %v", c, err)
	}

	other, _ := domain.NewCursorSealer([]byte("another deployment's cursor key"))
	genuine := testCursors.CursorString(all[9].Cursor())
	raw, _ := base64.RawURLEncoding.DecodeString(genuine)
	raw[12] ^= 1
	altered := base64.RawURLEncoding.EncodeToString(raw)
	// The old unsealed format anyone could build: version 1, a time, an id.
	old := []byte{1}
	old = binary.BigEndian.AppendUint64(old, uint64(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
	old = binary.BigEndian.AppendUint32(old, 0)
	old = binary.BigEndian.AppendUint64(old, 1)
	live := testCursors.LiveCursorString(domain.LiveCursor{Filter: 1, Live: domain.ChangePos{Xmax: 5}})
	tests := []struct {
		name, cursor, says string
	}{
		{"altered byte", altered, "not issued by this server"},
		{"another key", other.CursorString(all[9].Cursor()), "not issued by this server"},
		{"old version", base64.RawURLEncoding.EncodeToString(old), "older version"},
		{"a live cursor", live, "malformed"},
		{"garbage", "not-a-cursor", "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, accept := range []string{"", "application/x-ndjson"} {
				resp, body := get(t, "limit=5&cursor="+url.QueryEscape(tc.cursor), accept)
				var e struct {
					Error struct{ Code, Param, Message string } `json:"error"`
				}
				if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &e) != nil {
					t.Fatalf("Accept %q: status %d, %s: want a 400 JSON error", accept, resp.StatusCode, body)
				}
				if e.Error.Code != "invalid" || e.Error.Param != "cursor" || !strings.Contains(e.Error.Message, tc.says) {
					t.Fatalf("error %+v, want invalid cursor saying %q", e.Error, tc.says)
				}
			}
		})
	}
}
