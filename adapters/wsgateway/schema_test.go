package wsgateway_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
)

// The protocol's JSON Schemas, from the repository's docs.
var (
	schemasOnce                sync.Once
	serverSchema, clientSchema *jsonschema.Schema
	schemasErr                 error
)

func loadSchemas() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if serverSchema, schemasErr = c.Compile(filepath.Join("..", "..", "docs", "schemas", "server-message.json")); schemasErr != nil {
		return
	}
	clientSchema, schemasErr = c.Compile(filepath.Join("..", "..", "docs", "schemas", "client-message.json"))
}

// checkServerMessage checks one message the server sent against
// docs/schemas/server-message.json. TestMain makes every client of the
// package's tests call it on every message it receives.
func checkServerMessage(data []byte) error {
	return check(&serverSchema, data)
}

func check(schema **jsonschema.Schema, data []byte) error {
	schemasOnce.Do(loadSchemas)
	if schemasErr != nil {
		return fmt.Errorf("the protocol's schemas: %w", schemasErr)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return (*schema).Validate(v)
}

// The client message schema accepts what the server accepts and refuses
// what it refuses.
func TestProtocol_ClientMessagesMatchTheirSchema(t *testing.T) {
	cursors, err := domain.NewCursorSealer([]byte(testCursorKey))
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
		schemaErr := check(&clientSchema, []byte(tc.msg))
		_, _, parseErr := wsgateway.ParseClientMessage([]byte(tc.msg), cursors)
		if (schemaErr == nil) != tc.ok || (parseErr == nil) != tc.ok {
			t.Errorf("%s: schema says %v, the server says %v; want accepted %v", tc.msg, schemaErr, parseErr, tc.ok)
		}
	}
}
