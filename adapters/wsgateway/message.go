package wsgateway

import (
	"bytes"
	"encoding/json"
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
	// Type is "subscribe": replace the filter and start a new snapshot.
	Type string `json:"type"`
	// Query is the new filter in the query-string form of the upgrade URL
	// (status=open&team=billing); empty means every permitted ticket.
	Query string `json:"query"`
}

// ParseClientMessage decodes one client message and its filter. Any fault —
// not JSON, unknown fields or type, a bad filter — is an EInvalid error whose
// message becomes the close reason (1008).
func ParseClientMessage(data []byte) (ClientMessage, domain.Query, error) {
	var m ClientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, domain.Query{}, &domain.Error{Code: domain.EInvalid, Message: "message is not a JSON object of type and query"}
	}
	if dec.More() {
		return m, domain.Query{}, &domain.Error{Code: domain.EInvalid, Message: "one JSON object per message"}
	}
	if m.Type != "subscribe" {
		return m, domain.Query{}, &domain.Error{Code: domain.EInvalid, Param: "type", Message: `unknown message type (want "subscribe")`}
	}
	values, err := url.ParseQuery(m.Query)
	if err != nil {
		return m, domain.Query{}, &domain.Error{Code: domain.EInvalid, Param: "query", Message: "not a URL query string"}
	}
	q, err := domain.ParseQuery(values)
	if err != nil {
		return m, domain.Query{}, err
	}
	return m, q, nil
}

// The server's messages. Snapshot messages are assembled around a chunk's
// bytes without re-encoding them (see writer.go); the others are small.

// endMessage closes a subscription's snapshot: how many rows were sent and
// the cursor to resume after the last of them.
func endMessage(sub, rows, chunks int, cursor domain.Cursor) []byte {
	b := append([]byte(`{"type":"end","sub":`), strconv.Itoa(sub)...)
	b = append(append(b, `,"rows":`...), strconv.Itoa(rows)...)
	b = append(append(b, `,"chunks":`...), strconv.Itoa(chunks)...)
	b = append(b, `,"cursor":"`...)
	b = cursor.AppendText(b)
	return append(b, `"}`...)
}

// snapshotPrefix starts a snapshot message; the chunk's rows and "]}" follow.
// cursor is the position of the chunk's last row: a client that reconnects
// with it resumes right after the last message it received.
func snapshotPrefix(dst []byte, sub, seq, rows int, cursor domain.Cursor) []byte {
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
