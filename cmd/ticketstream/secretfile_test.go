package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecretFile_KeepsASecretThatStartsWithHash: a generated
// secret may start with "#" (base64, pwgen -y, …). The secret file takes
// such a line for a comment and drops it without a word: with the next
// secret first and the previous second, the next one is silently ignored,
// and `token` signs with the previous one.
func TestSecretFile_KeepsASecretThatStartsWithHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets")
	next, prev := "#next-secret-next-secret-next-secret-1", "previous-secret-previous-secret-2"
	if err := os.WriteFile(path, []byte(next+"\n"+prev+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets, err := readSecretFile(path)
	if err != nil {
		return // refusing the line with a reason is fine too
	}
	if len(secrets) != 2 || secrets[0] != next {
		t.Fatalf("secrets = %d lines, first is the next secret: %v; want both, the next one first (or a refusal)", len(secrets), len(secrets) > 0 && secrets[0] == next)
	}
}
