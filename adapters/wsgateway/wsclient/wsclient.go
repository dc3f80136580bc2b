// Package wsclient is a Go client of ticketstream's dashboard socket: it
// keeps the view a dashboard shows — the tickets of its filter as they are
// now — from the snapshot and the live changes, remembers the cursor of the
// last message, and resumes from it. Tests, the load tool and Go programs
// use it; the browser dashboard does the same in JavaScript.
package wsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/domain"
)

// Subprotocol is the gateway's protocol name (wsgateway.Subprotocol).
const Subprotocol = "ticketstream.v1"

// Message is one server message, decoded.
type Message struct {
	Type    string          `json:"type"` // snapshot, end, changes, resync
	Sub     int             `json:"sub"`
	Seq     int             `json:"seq"`
	Rows    int             `json:"rows"`
	Chunks  int             `json:"chunks"`
	Cursor  string          `json:"cursor"`
	Tickets []domain.Ticket `json:"tickets"`
	Changes []Change        `json:"changes"`
	Counts  *Totals         `json:"counts"`
	Reason  string          `json:"reason"`
}

// Totals are the counts of the tickets a dashboard holds, as the server
// pushes them: whole in end and counts messages, and only the buckets that
// moved in changes messages.
type Totals struct {
	Total  int            `json:"total"`
	Status map[string]int `json:"status"`
	Team   map[string]int `json:"team"`
}

// Change is one live change: a ticket's new state, or its removal from the
// view (deleted, or no longer passing the filter).
type Change struct {
	Op     string         `json:"op"` // upsert or remove
	ID     int64          `json:"id"`
	Ticket *domain.Ticket `json:"ticket"`
}

// Counts are what a client observed that should never happen, and what it
// received. A ticket version is known by its updated_at: writers move it
// forward with every change.
type Counts struct {
	Messages, Rows, Changes int
	// Duplicates are versions received again: a row or change equal to what
	// the view already holds.
	Duplicates int
	// Regressions are versions older than the one the view holds.
	Regressions int
	Resyncs     int
}

// View is a dashboard's state: the tickets it shows and where it stands.
type View struct {
	Tickets      map[int64]domain.Ticket
	Cursor       string // of the last message received: resume from here
	Sub          int
	SnapshotDone bool
	Counts       Counts
	// Totals are the server's counts of what the view holds.
	Totals Totals

	// unclaimed: the next Dial resumes without saying what the view holds
	// (the server refused the held tickets, see Client.Next); the Dial
	// that opens a socket clears it.
	unclaimed bool
}

// Apply updates v with m. Messages of an earlier subscription are ignored.
func (v *View) Apply(m *Message) {
	if v.Tickets == nil {
		v.Tickets = map[int64]domain.Ticket{}
	}
	if m.Sub < v.Sub {
		return
	}
	if m.Sub > v.Sub { // a new subscription on this socket starts afresh
		v.Sub, v.SnapshotDone = m.Sub, false
		clear(v.Tickets)
		v.Totals = Totals{}
	}
	v.Counts.Messages++
	switch m.Type {
	case "resync":
		// The cursor resumed with is refused: never resume from it again.
		// What was held goes, and with it its counts: the counts that
		// follow move the buckets of what the fresh subscription sends.
		clear(v.Tickets)
		v.Totals = Totals{}
		v.SnapshotDone, v.Cursor = false, ""
		v.Counts.Resyncs++
	case "snapshot":
		v.Counts.Rows += len(m.Tickets)
		for _, t := range m.Tickets {
			v.upsert(t)
		}
	case "end":
		v.SnapshotDone = true
		v.setTotals(m.Counts, true)
	case "counts":
		v.setTotals(m.Counts, true)
	case "changes":
		v.setTotals(m.Counts, false)
		v.Counts.Changes += len(m.Changes)
		for _, c := range m.Changes {
			switch {
			case c.Op == "upsert" && c.Ticket != nil:
				v.upsert(*c.Ticket)
			case c.Op == "remove":
				delete(v.Tickets, c.ID)
			}
		}
	}
	if m.Cursor != "" {
		v.Cursor = m.Cursor
	}
}

// setTotals applies pushed counts: all of them, or the buckets given.
func (v *View) setTotals(t *Totals, whole bool) {
	if t == nil {
		return
	}
	if whole || v.Totals.Status == nil {
		v.Totals = Totals{Status: map[string]int{}, Team: map[string]int{}}
	}
	v.Totals.Total = t.Total
	for k, n := range t.Status {
		v.Totals.Status[k] = n
	}
	for k, n := range t.Team {
		if n == 0 {
			delete(v.Totals.Team, k)
		} else {
			v.Totals.Team[k] = n
		}
	}
}

// CheckTotals compares the server's counts with the view's own: an error
// says what differs.
func (v *View) CheckTotals() error {
	status, team := map[string]int{}, map[string]int{}
	for _, t := range v.Tickets {
		status[string(t.Status)]++
		team[t.Team]++
	}
	if v.Totals.Total != len(v.Tickets) {
		return fmt.Errorf("counts say %d tickets, the view holds %d", v.Totals.Total, len(v.Tickets))
	}
	for k, n := range status {
		if v.Totals.Status[k] != n {
			return fmt.Errorf("counts say %d %s, the view holds %d", v.Totals.Status[k], k, n)
		}
	}
	for k, n := range v.Totals.Status {
		if status[k] != n {
			return fmt.Errorf("counts say %d %s, the view holds %d", n, k, status[k])
		}
	}
	for k, n := range team {
		if v.Totals.Team[k] != n {
			return fmt.Errorf("counts say %d of team %q, the view holds %d", v.Totals.Team[k], k, n)
		}
	}
	if len(v.Totals.Team) != len(team) {
		return fmt.Errorf("counts name %d teams, the view holds %d", len(v.Totals.Team), len(team))
	}
	return nil
}

func (v *View) upsert(t domain.Ticket) {
	if old, ok := v.Tickets[t.ID]; ok {
		switch c := t.UpdatedAt.Compare(old.UpdatedAt); {
		case c < 0:
			v.Counts.Regressions++
			return
		case c == 0 && sameTicket(old, t):
			v.Counts.Duplicates++
		}
	}
	v.Tickets[t.ID] = t
}

func sameTicket(a, b domain.Ticket) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Client is one dashboard socket.
type Client struct {
	Conn *websocket.Conn
	View *View
	// Mu, when set, is held while a message is applied to View, for a
	// caller that reads the view from another goroutine.
	Mu *sync.Mutex
	// Compressed reports whether the server accepted permessage-deflate.
	Compressed bool
}

// Dial opens a socket to base (ws://host:port) for the filter query
// (status=open&team=billing), resuming from view.Cursor if set; view keeps
// its tickets across reconnects — and saying what it holds (held
// messages) unless told WithoutHeld. Like the dashboard's client.js, it
// resumes once without saying it after the server refused the held
// tickets (a close whose reason starts with "held", seen by Next), after
// a Dial that could not write them all (on a slow link the server closes
// the claim while they are written), and when an upgrade that said it is
// refused with 400 (a server older than held=); the server then reads the
// view back. Dial and Next must not run at once on the same view. token may be empty. It
// offers permessage-deflate unless told WithoutCompression.
func Dial(ctx context.Context, base, query, token string, view *View, options ...Option) (*Client, error) {
	var cfg dialConfig
	for _, o := range options {
		o(&cfg)
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", query, err)
	}
	claim := view.Cursor != "" && !cfg.noHeld && !view.unclaimed
	c, resp, err := dial(ctx, base, values, token, view, claim, &cfg)
	if err != nil && claim && resp != nil && resp.StatusCode == http.StatusBadRequest {
		// The upgrade with held= refused: by a server older than it (a
		// rolling deploy), or for the filter or cursor, which the attempt
		// without it is refused for too. It reads the view back.
		claim = false
		c, resp, err = dial(ctx, base, values, token, view, claim, &cfg)
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(8 << 20)
	if claim {
		for _, m := range heldMessages(view.Tickets) {
			if err := c.Write(ctx, websocket.MessageText, m); err != nil {
				c.CloseNow()
				// Most likely too slow to send them all: the server closed
				// the claim ("held: …") while they were written, a close
				// Next never sees. The next Dial resumes without them.
				view.unclaimed = true
				return nil, fmt.Errorf("send the held tickets: %w", err)
			}
		}
	}
	view.unclaimed = false
	// A new socket numbers its subscriptions from 1: a resumed view carries
	// on into subscription 1, a fresh one starts empty.
	view.Sub = 0
	if view.Cursor != "" {
		view.Sub = 1
	}
	return &Client{Conn: c, View: view, Compressed: strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")}, nil
}

// dial upgrades to the socket of the filter values, resuming from
// view.Cursor if set and, with claim, announcing what the view holds.
func dial(ctx context.Context, base string, values url.Values, token string, view *View, claim bool, cfg *dialConfig) (*websocket.Conn, *http.Response, error) {
	values = maps.Clone(values)
	if view.Cursor != "" {
		values.Set("cursor", view.Cursor)
	}
	if claim {
		values.Set("held", strconv.Itoa(len(view.Tickets)))
	}
	opts := &websocket.DialOptions{Subprotocols: []string{Subprotocol}, HTTPClient: cfg.httpClient, CompressionMode: websocket.CompressionNoContextTakeover}
	if cfg.noCompression {
		opts.CompressionMode = websocket.CompressionDisabled
	}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	return websocket.Dial(ctx, base+"/v1/stream?"+values.Encode(), opts)
}

// CheckMessage, when set, is called with every message a Client receives
// before it is applied; an error it returns is returned by Next. Tests set
// it once, before any client runs, to check every message the server sends
// against the protocol's JSON Schemas (docs/schemas).
var CheckMessage func(data []byte) error

// Next reads one message, applies it to the view and returns it.
func (c *Client) Next(ctx context.Context) (*Message, error) {
	_, data, err := c.Conn.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) && strings.HasPrefix(ce.Reason, "held") {
			// The server would not take the held tickets (too slow to
			// send, or refused): the next Dial resumes once without them,
			// and the server reads the view back.
			if c.Mu != nil {
				c.Mu.Lock()
				defer c.Mu.Unlock()
			}
			c.View.unclaimed = true
		}
		return nil, err
	}
	if CheckMessage != nil {
		if err := CheckMessage(data); err != nil {
			return nil, fmt.Errorf("server message breaks the protocol: %w: %.300s", err, data)
		}
	}
	m := new(Message)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("server message is not JSON: %w: %.200s", err, data)
	}
	if c.Mu != nil {
		c.Mu.Lock()
		defer c.Mu.Unlock()
	}
	c.View.Apply(m)
	return m, nil
}

// WaitFor reads messages until cond holds for the view, or timeout.
func (c *Client) WaitFor(ctx context.Context, timeout time.Duration, cond func(*View) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond(c.View) {
		if _, err := c.Next(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("condition not met in %s", timeout)
			}
			return err
		}
	}
	return nil
}

// Close closes the socket normally.
func (c *Client) Close() error { return c.Conn.Close(websocket.StatusNormalClosure, "") }
