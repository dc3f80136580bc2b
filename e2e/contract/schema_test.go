package contract_test

import (
	"testing"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/e2e"
)

// The client message schema accepts what the server accepts and refuses
// what it refuses.
func TestProtocol_ClientMessagesMatchTheirSchema(t *testing.T) {
	cursors, err := domain.NewCursorSealer([]byte("the contract tests' cursor key, 16+"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{`{"type":"subscribe","query":"status=open&team=billing"}`, true},
		{`{"type":"subscribe","query":""}`, true},
		{`{"type":"subscribe"}`, true},
		{`{"type":"unsubscribe","query":""}`, false},
		{`{"type":"subscribe","query":"","extra":1}`, false},
		{`{"query":"status=open"}`, false},
		{`["subscribe"]`, false},
	} {
		schemaErr := e2e.CheckClientMessage([]byte(tc.msg))
		_, _, parseErr := wsgateway.ParseClientMessage([]byte(tc.msg), cursors)
		if (schemaErr == nil) != tc.ok || (parseErr == nil) != tc.ok {
			t.Errorf("%s: schema says %v, the server says %v; want accepted %v", tc.msg, schemaErr, parseErr, tc.ok)
		}
	}
}
