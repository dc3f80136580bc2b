package domain_test

import (
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

// A term depends on the key and on each of id, status and team, and adding
// a term twice takes it out again: what lets a digest move in constant
// time as a ticket enters, changes bucket or leaves.
func TestHeldDigester_TermsAreOfTheTicketAndTheKey(t *testing.T) {
	t.Parallel()
	d := domain.NewHeldDigester([]byte("the server's key"))
	var scratch [16]byte
	billing, sales := domain.TeamTag([]byte("billing")), domain.TeamTag([]byte("sales"))
	base := d.Term(&scratch, 42, 1, billing)
	if again := d.Term(&scratch, 42, 1, billing); again != base {
		t.Fatalf("the same ticket gave %x and %x", base, again)
	}
	for name, other := range map[string]domain.HeldDigest{
		"another id":     d.Term(&scratch, 43, 1, billing),
		"another status": d.Term(&scratch, 42, 2, billing),
		"another team":   d.Term(&scratch, 42, 1, sales),
		"another key":    domain.NewHeldDigester([]byte("another key")).Term(&scratch, 42, 1, billing),
	} {
		if other == base {
			t.Errorf("%s gave the same term %x", name, base)
		}
	}
	var digest domain.HeldDigest
	digest = digest.Xor(base).Xor(d.Term(&scratch, 7, 0, sales))
	if digest = digest.Xor(base); digest != d.Term(&scratch, 7, 0, sales) {
		t.Fatalf("taking a term out left %x, want the other term alone", digest)
	}
}

// BenchmarkHeldDigester_Term is what the held digest costs each dashboard a
// change reaches: a move (a ticket changing bucket) is two terms, a ticket
// entering or leaving one.
//
//	go test -run '^$' -bench HeldDigester_Term ./domain
func BenchmarkHeldDigester_Term(b *testing.B) {
	d := domain.NewHeldDigester([]byte("the server's key"))
	tag := domain.TeamTag([]byte("billing"))
	var scratch [16]byte
	var sum domain.HeldDigest
	b.ReportAllocs()
	id := int64(0)
	for b.Loop() {
		id++
		sum = sum.Xor(d.Term(&scratch, id, 1, tag))
	}
	_ = sum
}
