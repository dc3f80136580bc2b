package wsclient

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// heldMessages returns the held messages that claim tickets, in id order,
// each within wsgateway.MaxHeldMessageBytes.
func heldMessages(tickets map[int64]domain.Ticket) [][]byte {
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range tickets {
			if !yield(id) {
				return
			}
		}
	})
	type message struct {
		Type    string   `json:"type"`
		Teams   []string `json:"teams"`
		Tickets string   `json:"tickets"`
	}
	const frame = len(`{"type":"held","teams":[],"tickets":""}`)
	var out [][]byte
	for len(ids) > 0 {
		var teams []string
		var batch []app.HeldTicket
		teamBytes, bin := 0, 0 // the teams' JSON; the tickets' varints
		var prev int64
		for len(ids) > 0 {
			t := tickets[ids[0]]
			team := slices.Index(teams, t.Team)
			addTeam := 0
			if team < 0 {
				js, _ := json.Marshal(t.Team)
				addTeam, team = len(js)+1, len(teams)
			}
			n := len(binary.AppendVarint(nil, t.ID-prev)) + len(binary.AppendUvarint(nil, uint64(team))) + 1
			if frame+teamBytes+addTeam+base64.RawURLEncoding.EncodedLen(bin+n) > wsgateway.MaxHeldMessageBytes && len(batch) > 0 {
				break
			}
			if team == len(teams) {
				teams = append(teams, t.Team)
			}
			teamBytes, bin, prev = teamBytes+addTeam, bin+n, t.ID
			batch = append(batch, app.HeldTicket{ID: t.ID, Team: team, Status: t.Status})
			ids = ids[1:]
		}
		m, _ := json.Marshal(message{Type: "held", Teams: teams, Tickets: wsgateway.EncodeHeld(batch)})
		out = append(out, m)
	}
	return out
}
