package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The protocol's JSON Schemas, read from the repository's docs/schemas.
var (
	schemasOnce                sync.Once
	serverSchema, clientSchema *jsonschema.Schema
	schemasErr                 error
)

func loadSchemas() {
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		schemasErr = fmt.Errorf("cannot tell where the e2e package is")
		return
	}
	dir := filepath.Join(filepath.Dir(here), "..", "docs", "schemas")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if serverSchema, schemasErr = c.Compile(filepath.Join(dir, "server-message.json")); schemasErr != nil {
		return
	}
	clientSchema, schemasErr = c.Compile(filepath.Join(dir, "client-message.json"))
}

// CheckServerMessage checks one message the server sent against
// docs/schemas/server-message.json. The system tests' TestMain makes every
// WebSocket client of theirs call it on every message it receives.
func CheckServerMessage(data []byte) error { return check(&serverSchema, data) }

// CheckClientMessage checks one message a client may send against
// docs/schemas/client-message.json.
func CheckClientMessage(data []byte) error { return check(&clientSchema, data) }

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
