package portstest_test

import (
	"testing"

	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestFeed_MeetsChangeFeedContract(t *testing.T) {
	portstest.TestChangeFeedContract(t, func(t *testing.T) (ports.ChangeFeed, portstest.TicketWriter) {
		f := portstest.NewFeed()
		return f, f
	})
}
