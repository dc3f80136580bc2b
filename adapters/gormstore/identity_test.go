package gormstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
)

// The cursor key is made once and then shared: by every store on the same
// database (replicas), across restarts, and by stores that open a fresh
// database at the same moment. Another database has another key.
func TestStore_CursorKeyIsMadeOnceAndShared(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := newURL(t, d)
			open := func() *gormstore.Store {
				s, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: url, Migrate: true}, nil)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(closeStore)
				return s
			}
			stores := []*gormstore.Store{open(), open(), open()}
			keys := make([][]byte, len(stores))
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Go(func() {
					k, err := s.CursorKey(ctx)
					if err != nil {
						t.Errorf("CursorKey: %v", err)
					}
					keys[i] = k
				})
			}
			wg.Wait()
			if len(keys[0]) != 32 {
				t.Fatalf("key of %d bytes, want 32", len(keys[0]))
			}
			for i := range keys {
				if !bytes.Equal(keys[i], keys[0]) {
					t.Fatalf("store %d made its own key: the replicas would refuse each other's cursors", i)
				}
			}
			again, err := open().CursorKey(ctx) // a restart
			if err != nil || !bytes.Equal(again, keys[0]) {
				t.Fatalf("after a restart the key changed (%v)", err)
			}
			other := openStore(t, d, nil, gormstore.Config{})
			if k, err := other.CursorKey(ctx); err != nil || bytes.Equal(k, keys[0]) {
				t.Fatalf("another database has the same key (%v)", err)
			}
		})
	}
}

// SQLite's identity is a random id kept in the file: stable, and different
// for another database file.
func TestStore_IdentityOfSQLiteIsItsOwn(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t, gormstore.SQLite, nil, gormstore.Config{}), openStore(t, gormstore.SQLite, nil, gormstore.Config{})
	ida, err := a.Identity(ctx)
	if err != nil || ida == 0 {
		t.Fatalf("Identity = %d, %v", ida, err)
	}
	if again, _ := a.Identity(ctx); again != ida {
		t.Fatalf("Identity changed from %d to %d", ida, again)
	}
	if idb, _ := b.Identity(ctx); idb == ida {
		t.Fatal("two database files have the same identity")
	}
}

// PostgreSQL's identity is the cluster's and the database's: a restore into
// another cluster changes it, and so does another database of the cluster
// (a copy restored with pg_restore, whose default cursor key is the same).
func TestStore_IdentityOfPostgreSQLIsTheClusterAndTheDatabase(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	id, err := s.Identity(ctx)
	if err != nil || id == 0 {
		t.Fatalf("Identity = %d, %v", id, err)
	}
	db, err := sql.Open("pgx", pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sys int64
	if err := db.QueryRowContext(ctx, `SELECT system_identifier FROM pg_control_system()`).Scan(&sys); err != nil {
		t.Fatal(err)
	}
	if id == uint64(sys) {
		t.Fatalf("Identity = the system identifier %d: every database of the cluster would share it", id)
	}
	// Another database of the same cluster — as a copy restored with
	// pg_restore would be — has another identity.
	other := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	if oid, err := other.Identity(ctx); err != nil || oid == id {
		t.Fatalf("another database of the cluster: Identity = %d, %v; want other than %d", oid, err, id)
	}
	again, err := s.Identity(ctx)
	if err != nil || again != id {
		t.Fatalf("Identity again = %d, %v; want %d", again, err, id)
	}
}
