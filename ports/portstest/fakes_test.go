package portstest_test

import (
	"testing"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestSource_MeetsContract(t *testing.T) {
	t.Parallel()
	portstest.TestTicketSourceContract(t, func(t *testing.T, tickets []domain.Ticket) ports.TicketSource {
		return &portstest.Source{Tickets: tickets}
	})
}

func TestSink_MeetsContract(t *testing.T) {
	t.Parallel()
	portstest.TestChunkSinkContract(t, func(t *testing.T) (ports.ChunkSink, func() [][]byte) {
		s := &portstest.Sink{}
		return s, func() [][]byte {
			var out [][]byte
			for _, c := range s.Chunks() {
				out = append(out, c.Data)
			}
			return out
		}
	})
}
