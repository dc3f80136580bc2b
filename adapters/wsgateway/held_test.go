package wsgateway

import (
	"encoding/base64"
	"slices"
	"testing"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

func TestDecodeHeld(t *testing.T) {
	t.Parallel()
	valid := []app.HeldTicket{{ID: 5, Team: 1, Status: domain.StatusOpen}, {ID: 3, Team: 0, Status: domain.StatusClosed}, {ID: -1 << 62, Team: 1, Status: domain.StatusNew}, {ID: 1<<63 - 1, Team: 0, Status: domain.StatusOnHold}}
	got, err := DecodeHeld(nil, ClientMessage{Teams: []string{"a", "b"}, Tickets: EncodeHeld(valid)})
	if err != nil || !slices.Equal(got, valid) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, valid)
	}
	if got, err := DecodeHeld(nil, ClientMessage{}); err != nil || len(got) != 0 {
		t.Fatalf("no tickets: %+v, %v", got, err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for name, m := range map[string]ClientMessage{
		"not base64url":        {Teams: []string{"a"}, Tickets: "+/+/"},
		"padded":               {Teams: []string{"a"}, Tickets: base64.URLEncoding.EncodeToString([]byte{0x90, 0x03, 0, 1})},
		"cut short":            {Teams: []string{"a"}, Tickets: b64([]byte{2, 0})},
		"an id cut short":      {Teams: []string{"a"}, Tickets: b64([]byte{0x80})},
		"an overlong id":       {Teams: []string{"a"}, Tickets: b64([]byte{0x82, 0x00, 0, 1})},
		"an overlong index":    {Teams: []string{"a"}, Tickets: b64([]byte{2, 0x80, 0x00, 1})},
		"no such team":         {Teams: []string{"a"}, Tickets: b64([]byte{2, 1, 1})},
		"no team at all":       {Tickets: b64([]byte{2, 0, 1})},
		"no such status":       {Teams: []string{"a"}, Tickets: b64([]byte{2, 0, 6})},
		"a huge status index":  {Teams: []string{"a"}, Tickets: b64([]byte{2, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})},
		"trailing garbage":     {Teams: []string{"a"}, Tickets: b64([]byte{2, 0, 1, 0xff})},
		"not text of base64":   {Teams: []string{"a"}, Tickets: "\xff\xfe"},
		"base64 of one byte 0": {Teams: []string{"a"}, Tickets: "AA="},
	} {
		if _, err := DecodeHeld(nil, m); domain.ErrorCode(err) != domain.EInvalid {
			t.Errorf("%s: %v, want an EInvalid error", name, err)
		}
	}
}

// FuzzDecodeHeld: any held message decodes to tickets whose indices are in
// range, which encode back to the same bytes, or is an EInvalid error.
func FuzzDecodeHeld(f *testing.F) {
	f.Add(2, EncodeHeld([]app.HeldTicket{{ID: 5, Team: 1, Status: domain.StatusOpen}, {ID: 3, Status: domain.StatusClosed}}))
	f.Add(1, "AgAB")
	f.Add(0, "")
	f.Add(3, "gICAgICAgICAAQ")
	f.Fuzz(func(t *testing.T, teams int, tickets string) {
		if teams < 0 || teams > 100 {
			return
		}
		m := ClientMessage{Teams: make([]string, teams), Tickets: tickets}
		got, err := DecodeHeld(nil, m)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("DecodeHeld failed with %v, not EInvalid", err)
			}
			return
		}
		for _, h := range got {
			if h.Team < 0 || h.Team >= teams || !h.Status.Valid() {
				t.Fatalf("decoded %+v with %d teams", h, teams)
			}
		}
		if again := EncodeHeld(got); again != tickets {
			t.Fatalf("decoded %q to %+v, which encodes to %q", tickets, got, again)
		}
	})
}
