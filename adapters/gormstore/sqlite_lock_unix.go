//go:build unix

package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// fileLocker serialises migrations of one SQLite database across processes
// with an exclusive flock on a file beside it. The kernel drops the lock if
// the process dies, so a crash never leaves the database locked.
type fileLocker struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Lock implements goose's lock.Locker, waiting until ctx ends.
func (l *fileLocker) Lock(ctx context.Context, _ *sql.DB) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("migration lock %s: %w", l.path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			l.mu.Lock()
			l.f = f
			l.mu.Unlock()
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("migration lock %s: %w", l.path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("migration lock %s: %w", l.path, ctx.Err())
		case <-time.After(migrateLockPoll):
		}
	}
}

// Unlock implements goose's lock.Locker.
func (l *fileLocker) Unlock(context.Context, *sql.DB) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// migrateLockPoll is how often a waiting process retries the SQLite lock.
const migrateLockPoll = 50 * time.Millisecond
