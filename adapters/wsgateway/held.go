// The held message: the tickets a resuming client holds, for the server to
// take instead of reading the client's filter back from the database (see
// ParamHeld and app's claim.go).
//
//	{"type":"held","teams":["billing","sales"],"tickets":"<base64url>"}
//
// tickets is unpadded base64url of, for each ticket in turn, three
// varints as encoding/binary writes them: the id less the previous
// ticket's id (the first's less 0), signed (zigzag); the index of its team
// in teams; the index of its status in new, open, pending, on_hold,
// solved, closed. A message is at most MaxHeldMessageBytes.

package wsgateway

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// DecodeHeld decodes a held message's tickets, appending them to dst.
// Anything it would not write — not base64url, a varint cut short or not
// in its shortest form, a team or status index out of range — is an
// EInvalid error naming "held".
func DecodeHeld(dst []app.HeldTicket, m ClientMessage) ([]app.HeldTicket, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(m.Tickets)
	if err != nil || strings.ContainsAny(m.Tickets, "\r\n") { // which the decoder skips

		return dst, domain.Invalidf(ParamHeld, "tickets: not unpadded base64url")
	}
	var id int64
	for len(b) > 0 {
		delta, n := binary.Varint(b)
		if n <= 0 || n != len(binary.AppendVarint(nil, delta)) {
			return dst, domain.Invalidf(ParamHeld, "tickets: a malformed id")
		}
		b = b[n:]
		team, rest, ok := heldIndex(b, len(m.Teams))
		if !ok {
			return dst, domain.Invalidf(ParamHeld, "tickets: a team index out of the %d teams named", len(m.Teams))
		}
		status, rest, ok := heldIndex(rest, len(domain.Statuses))
		if !ok {
			return dst, domain.Invalidf(ParamHeld, "tickets: a status index out of the %d statuses", len(domain.Statuses))
		}
		b = rest
		id += delta
		dst = append(dst, app.HeldTicket{ID: id, Team: team, Status: domain.Statuses[status]})
	}
	return dst, nil
}

// heldIndex reads one shortest uvarint below n from the front of b.
func heldIndex(b []byte, n int) (int, []byte, bool) {
	x, k := binary.Uvarint(b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, x)) || x >= uint64(n) {
		return 0, nil, false
	}
	return int(x), b[k:], true
}

// EncodeHeld writes the tickets of a held message, whose Team index the
// message's teams: what DecodeHeld reads.
func EncodeHeld(tickets []app.HeldTicket) string {
	var b []byte
	var prev int64
	for _, t := range tickets {
		b = binary.AppendVarint(b, t.ID-prev)
		prev = t.ID
		b = binary.AppendUvarint(b, uint64(t.Team))
		s := 0
		for s < len(domain.Statuses) && domain.Statuses[s] != t.Status {
			s++
		}
		b = binary.AppendUvarint(b, uint64(s))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// isHeldMessage reports whether data is a held message, as far as its type
// goes: the one kind of message that may be larger than
// Options.MaxMessageBytes.
func isHeldMessage(data []byte) bool {
	var m struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(data, &m) == nil && m.Type == "held"
}
