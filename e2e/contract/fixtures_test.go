package contract_test

import (
	"context"
	"errors"

	"github.com/ticketstream/ticketstream/domain"
)

// testCursors seals the cursors of the test server.
var testCursors = func() *domain.CursorSealer {
	s, err := domain.NewCursorSealer([]byte("the contract tests' cursor key, 16+"))
	if err != nil {
		panic(err)
	}
	return s
}()

// noStore has no ticket, and its database is down.
type noStore struct{}

func (noStore) Ticket(context.Context, int64) (domain.Ticket, error) {
	return domain.Ticket{}, &domain.Error{Code: domain.ENotFound, Message: "no ticket"}
}
func (noStore) Ready(context.Context) error { return errors.New("down") }
