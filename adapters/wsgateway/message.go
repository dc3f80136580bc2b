package wsgateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"strconv"

	"github.com/ticketstream/ticketstream/domain"
)

// Subprotocol is the WebSocket subprotocol the gateway speaks; a client
// offers it, and may offer BearerPrefix+token beside it to authenticate
// (browsers cannot set an Authorization header on a WebSocket).
const (
	Subprotocol  = "ticketstream.v1"
	BearerPrefix = "bearer."
)

// ClientMessage is what a client may send after the upgrade.
type ClientMessage struct {
	// Type is "subscribe": replace the filter and start a new snapshot; or
	// "held": tickets a resuming client holds (see ParamHeld).
	Type string `json:"type"`
	// Query is the new filter in the query-string form of the upgrade URL
	// (status=open&team=billing); empty means every permitted ticket.
	// Subscribe only.
	Query string `json:"query,omitempty"`
	// Teams and Tickets are a held message's: the teams its tickets
	// name, and the tickets (see DecodeHeld).
	Teams   []string `json:"teams,omitempty"`
	Tickets string   `json:"tickets,omitempty"`
}

// ParamHeld is the subscription parameter by which a client that resumes
// with a live cursor says it will send the tickets it holds — held=N, N of
// them — in held messages right after the subscription (the upgrade, or
// the subscribe message). When what they claim is what the cursor says the
// dashboard held, the server takes it and reads none of the filter back
// from the database; otherwise it reads them back.
const ParamHeld = "held"

// MaxHeld is the most tickets a client may say it holds.
const MaxHeld = 1 << 22

// MaxHeldMessageBytes is the most a held message may take: every server
// accepts messages of this size (Options.MaxMessageBytes).
const MaxHeldMessageBytes = 4096

// Subscription is what a client asks for: a filter, and optionally where to
// resume a live subscription of the same filter.
type Subscription struct {
	Query domain.Query
	// Resume is the cursor of the last message received on an earlier
	// socket, or nil for a new subscription.
	Resume *domain.LiveCursor
	// Refused, when not empty, says why the cursor the client gave cannot
	// be used at all — altered, forged, from an older server version: the
	// subscription starts afresh, with a resync message giving this reason.
	Refused string
	// Claims says the client will send the Held tickets it holds in held
	// messages (ParamHeld), whatever becomes of its cursor.
	Claims bool
	Held   int
}

// ParseSubscription reads a subscription from query parameters: the filter
// as domain.ParseQuery reads it, where cursor may also be the live cursor of
// a message this gateway sent. cursors opens the cursors, which must be
// sealed with its key.
//
// A cursor of the shape of one this server hands out that does not open
// (its MAC is wrong, or it comes from an older version) is never obeyed and
// never an error either: a client cannot do better than start afresh, so
// the subscription does, and says why (Refused). Text that never was a
// cursor is an EInvalid error.
func ParseSubscription(values url.Values, cursors *domain.CursorSealer) (Subscription, error) {
	var sub Subscription
	if h, ok := values[ParamHeld]; ok {
		n, err := -1, error(nil)
		if len(h) == 1 {
			n, err = strconv.Atoi(h[0])
		}
		switch {
		case err != nil || n < 0 || n > MaxHeld:
			return Subscription{}, domain.Invalidf(ParamHeld, "must be one count of tickets, 0 to %d", MaxHeld)
		case len(values[domain.ParamCursor]) != 1:
			return Subscription{}, domain.Invalidf(ParamHeld, "only with the cursor of a resume")
		}
		sub.Claims, sub.Held = true, n
		values = maps.Clone(values)
		delete(values, ParamHeld)
	}
	if c := values[domain.ParamCursor]; len(c) == 1 && domain.IsCursorShaped(c[0]) {
		var err error
		if domain.IsLiveCursor(c[0]) {
			var lc domain.LiveCursor
			if lc, err = cursors.OpenLiveCursor(c[0]); err == nil {
				sub.Resume = &lc
			}
		} else {
			_, err = cursors.OpenCursor(c[0])
		}
		if err != nil {
			var derr *domain.Error
			if !errors.As(err, &derr) {
				return Subscription{}, err
			}
			sub.Refused = derr.Message
		}
		if sub.Resume != nil || sub.Refused != "" {
			values = maps.Clone(values)
			delete(values, domain.ParamCursor)
		}
	}
	q, err := domain.ParseQuery(values, cursors)
	if err != nil {
		return Subscription{}, err
	}
	if q.Window > 0 && (sub.Resume != nil || sub.Refused != "") {
		return Subscription{}, domain.Invalidf(domain.ParamWindow, "a window always starts afresh, whole: give no cursor")
	}
	sub.Query = q
	return sub, nil
}

// ParseClientMessage decodes one client message and its subscription. Any
// fault — not JSON, unknown fields or type, a bad filter — is an EInvalid
// error whose message becomes the close reason (1008). cursors opens the
// query's cursor, as in ParseSubscription.
func ParseClientMessage(data []byte, cursors *domain.CursorSealer) (ClientMessage, Subscription, error) {
	var m ClientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Message: "message is not a JSON object of type and query"}
	}
	if dec.More() {
		return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Message: "one JSON object per message"}
	}
	switch {
	case m.Type == "held":
		if m.Query != "" {
			return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Param: "query", Message: "a held message has teams and tickets, no query"}
		}
		return m, Subscription{}, nil
	case m.Type != "subscribe":
		return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Param: "type", Message: `unknown message type (want "subscribe" or "held")`}
	case m.Teams != nil || m.Tickets != "":
		return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Param: "type", Message: "a subscribe message has a query, no teams or tickets"}
	}
	values, err := domain.ParseQueryString(m.Query)
	if err != nil {
		var derr *domain.Error
		errors.As(err, &derr)
		return m, Subscription{}, &domain.Error{Code: domain.EInvalid, Param: "query", Message: derr.Message}
	}
	sub, err := ParseSubscription(values, cursors)
	if err != nil {
		return m, Subscription{}, err
	}
	return m, sub, nil
}

// The server's messages. Snapshot messages are assembled around a chunk's
// bytes without re-encoding them (see writer.go); the others are small.

// Every server message carries the cursor of the subscription as it stands
// once the message is received: a client that reconnects with the cursor of
// the last message it received resumes exactly after it.

// countsWriter writes the counts of what a dashboard holds, kept by the
// core (app.Subscription).
type countsWriter interface {
	// AppendCounts appends every count if all, else those changed since
	// the last call.
	AppendCounts(dst []byte, all bool) []byte
	// CountsChanged reports whether a count changed since the last call of
	// AppendCounts.
	CountsChanged() bool
	// CountsKnown reports whether the counts describe what the dashboard
	// holds; a message carries none while they do not.
	CountsKnown() bool
}

// endMessage closes a subscription's snapshot: how many rows were sent.
// Live changes continue after it.
func endMessage(dst []byte, sub, rows, chunks int, cursor sealedCursor, counts countsWriter) []byte {
	dst = append(dst, `{"type":"end","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(rows), 10)
	dst = append(dst, `,"chunks":`...)
	dst = strconv.AppendInt(dst, int64(chunks), 10)
	return appendCursorAndCounts(dst, cursor, counts)
}

// appendCursorAndCounts ends a message with its cursor and every count.
func appendCursorAndCounts(dst []byte, cursor sealedCursor, counts countsWriter) []byte {
	dst = append(dst, `,"cursor":"`...)
	dst = cursor.AppendText(dst)
	dst = append(dst, '"')
	if counts.CountsKnown() {
		dst = append(dst, `,"counts":`...)
		dst = counts.AppendCounts(dst, true)
	}
	return append(dst, '}')
}

// countsMessage carries every count of what the dashboard holds: sent on a
// resume, once the changes it missed are written.
func countsMessage(dst []byte, sub int, cursor sealedCursor, counts countsWriter) []byte {
	dst = append(dst, `{"type":"counts","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	return appendCursorAndCounts(dst, cursor, counts)
}

// changesPrefix starts a changes message, with the counts that the changes
// moved; the changes, joined by commas, and "]}" follow.
func changesPrefix(dst []byte, sub int, cursor sealedCursor, counts countsWriter) []byte {
	dst = append(dst, `{"type":"changes","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	dst = append(dst, `,"cursor":"`...)
	dst = cursor.AppendText(dst)
	dst = append(dst, '"')
	if counts.CountsChanged() {
		dst = append(dst, `,"counts":`...)
		dst = counts.AppendCounts(dst, false)
	}
	return append(dst, `,"changes":[`...)
}

// windowChangesPrefix starts a live window's changes message: a window
// has no cursor (it always starts afresh), and its counts, of the whole
// filter, come when the subscription has them to tell (see
// app.Subscription.TakeWindow).
func windowChangesPrefix(dst []byte, sub int, counts []byte) []byte {
	dst = append(dst, `{"type":"changes","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	dst = append(dst, counts...)
	return append(dst, `,"changes":[`...)
}

// resyncMessage tells a resuming client that its cursor cannot be resumed
// and why: it must drop what it shows, since a fresh snapshot follows.
func resyncMessage(sub int, reason string, cursor sealedCursor) []byte {
	b, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Sub    int    `json:"sub"`
		Reason string `json:"reason"`
		Cursor string `json:"cursor"`
	}{"resync", sub, reason, cursor.String()})
	return b
}

// snapshotPrefix starts a snapshot message; the chunk's rows and "]}" follow.
func snapshotPrefix(dst []byte, sub, seq, rows int, cursor sealedCursor) []byte {
	dst = append(dst, `{"type":"snapshot","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(rows), 10)
	dst = append(dst, `,"cursor":"`...)
	dst = cursor.AppendText(dst)
	return append(dst, `","tickets":[`...)
}

const snapshotSuffix = "]}"
