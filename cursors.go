package ticketstream

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
)

// minCursorKeyFileLen is the shortest key a key file may hold: 32 bytes,
// as many as the database's own key.
const minCursorKeyFileLen = 32

// NewCursorSealer returns the sealer of the cursors handed to clients
// (REST next_cursor, every WebSocket message's cursor). Its key is read
// from keyFile when that is set — then every replica must be given the
// same file — and otherwise from the database, where the first server that
// opened it stored a random one: the same on every replica and after every
// restart, with no setup.
func NewCursorSealer(ctx context.Context, store *gormstore.Store, keyFile string) (*domain.CursorSealer, error) {
	var key []byte
	var err error
	if keyFile != "" {
		key, err = readCursorKeyFile(keyFile)
	} else {
		key, err = store.CursorKey(ctx)
	}
	if err != nil {
		return nil, err
	}
	s, err := domain.NewCursorSealer(key)
	if err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	return s, nil
}

// CheckCursorKeyFile reports, as readCursorKeyFile does, a key file that
// cannot be read or holds too short a key: commands check it before they
// open the database.
func CheckCursorKeyFile(keyFile string) error {
	_, err := readCursorKeyFile(keyFile)
	return err
}

// readCursorKeyFile reads the key in keyFile; a file that cannot be read,
// or holds too short a key, is an EInvalid error naming cursor-key-file.
// ServerConfig.Validate reads it too, so that a bad file is refused with
// the other settings, before the database is opened.
func readCursorKeyFile(keyFile string) ([]byte, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, domain.Invalidf("cursor-key-file", "%v", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < minCursorKeyFileLen {
		return nil, domain.Invalidf("cursor-key-file", "holds %d bytes, want at least %d (as from `openssl rand -hex 32`)", len(key), minCursorKeyFileLen)
	}
	return key, nil
}

func provideCursorSealer(ctx context.Context, store *gormstore.Store, cfg ServerConfig) (*domain.CursorSealer, error) {
	return NewCursorSealer(ctx, store, cfg.CursorKeyFile)
}
