package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

// export pages with the sealed cursors the servers hand out, and refuses
// an altered one, or one sealed under another key, with a usage error.
func TestCLI_ExportPagesWithSealedCursors(t *testing.T) {
	db := sqliteURL(t)
	if code, _, stderr := runCLI(t, "seed", "--count", "50", "--database", db); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, stderr)
	}
	export := func(t *testing.T, args ...string) (int, []domain.Ticket, string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"export", "--database", db, "--log-format", "json", "--format", "json"}, args...)...)
		var tickets []domain.Ticket
		if code == 0 {
			if err := json.Unmarshal([]byte(stdout), &tickets); err != nil {
				t.Fatalf("export output: %v", err)
			}
		}
		next := ""
		for line := range strings.SplitSeq(stderr, "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				Next string `json:"next_cursor"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "export done" {
				next = rec.Next
			}
		}
		return code, tickets, next, stderr
	}
	code, all, _, stderr := export(t)
	if code != 0 || len(all) != 50 {
		t.Fatalf("export all: exit %d, %d tickets: %s", code, len(all), stderr)
	}
	code, first, next, stderr := export(t, "--query", "limit=10")
	if code != 0 || len(first) != 10 || next == "" {
		t.Fatalf("first page: exit %d, %d tickets, next %q: %s", code, len(first), next, stderr)
	}
	code, second, _, stderr := export(t, "--query", "limit=10&cursor="+next)
	if code != 0 || len(second) != 10 || second[0].ID != all[10].ID {
		t.Fatalf("second page: exit %d, %d tickets: %s", code, len(second), stderr)
	}

	// Sorted: the next cursor is the sort's, and resumes in its order; a
	// window is the socket's alone.
	code, sortedAll, _, stderr := export(t, "--query", "sort=-priority,created_at")
	if code != 0 || len(sortedAll) != 50 {
		t.Fatalf("sorted export: exit %d: %s", code, stderr)
	}
	code, _, sortedNext, stderr := export(t, "--query", "sort=-priority,created_at&limit=10")
	if code != 0 || sortedNext == "" {
		t.Fatalf("sorted first page: exit %d: %s", code, stderr)
	}
	code, sortedSecond, _, stderr := export(t, "--query", "sort=-priority,created_at&limit=10&cursor="+sortedNext)
	if code != 0 || len(sortedSecond) != 10 || sortedSecond[0].ID != sortedAll[10].ID {
		t.Fatalf("sorted second page: exit %d, %d tickets: %s", code, len(sortedSecond), stderr)
	}
	if code, _, _, stderr = export(t, "--query", "limit=10&cursor="+sortedNext); code != 2 {
		t.Fatalf("a sorted cursor without its sort: exit %d, %s; want a usage error", code, stderr)
	}
	if code, _, _, stderr = export(t, "--query", "sort=priority&window=5"); code != 2 || !strings.Contains(stderr, "window") {
		t.Fatalf("a window: exit %d, %s; want a usage error naming window", code, stderr)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(next)
	raw[5] ^= 1
	code, _, _, stderr = export(t, "--query", "limit=10&cursor="+base64.RawURLEncoding.EncodeToString(raw))
	if code != 2 || !strings.Contains(stderr, "not issued by this server") {
		t.Fatalf("an altered cursor: exit %d, %s; want a usage error saying it was not issued here", code, stderr)
	}
	keyFile := filepath.Join(t.TempDir(), "cursor.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, _, stderr = export(t, "--cursor-key-file", keyFile, "--query", "limit=10&cursor="+next)
	if code != 2 || !strings.Contains(stderr, "not issued by this server") {
		t.Fatalf("a cursor of the database's key under --cursor-key-file: exit %d, %s", code, stderr)
	}
	if err := os.WriteFile(keyFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _, stderr = export(t, "--cursor-key-file", keyFile); code == 0 || !strings.Contains(stderr, "cursor-key-file") {
		t.Fatalf("a key file of 5 bytes: exit %d, %s; want a refusal naming the setting", code, stderr)
	}
}
