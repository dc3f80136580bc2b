package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	dir, err := schemasDir()
	if err != nil {
		schemasErr = err
		return
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if serverSchema, schemasErr = c.Compile(filepath.Join(dir, "server-message.json")); schemasErr != nil {
		return
	}
	clientSchema, schemasErr = c.Compile(filepath.Join(dir, "client-message.json"))
}

// schemasDir finds docs/schemas in the working directory or above it: a
// test runs in its package's directory, somewhere below the repository's
// root. (The source file's own path would not do: -trimpath makes it
// relative.)
func schemasDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, "docs", "schemas")
		if _, err := os.Stat(filepath.Join(candidate, "server-message.json")); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no docs/schemas/server-message.json in the working directory or above it")
		}
		dir = parent
	}
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
