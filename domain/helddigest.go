package domain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// HeldDigest fingerprints what a dashboard holds — each ticket's id with the
// status and team it was last sent with — so that a dashboard that resumes
// can tell the server what it holds instead of the server reading its whole
// filter back from the database: a live cursor carries the digest of what
// the dashboard holds once it has applied the cursor's message, and the
// claim that comes with a resume is believed only when its digest is that
// one.
//
// The digest is the XOR of a keyed pseudo-random function of each held
// (id, status, team) — AES under a key derived from the cursor key — so
// that it moves in constant time as a ticket enters, changes bucket or
// leaves. XOR is linear: a client that knew the digests of the sets it
// held could solve for the function's values and make a claim of other
// tickets it once held match a digest. So a cursor carries the digest
// encrypted (AES, under a key of its own): a client never learns a digest,
// nor any value of the function, and no one without the key can make a
// claim match a cursor.
type HeldDigest [2]uint64

// Xor returns d with t added or, when already in, taken out.
func (d HeldDigest) Xor(t HeldDigest) HeldDigest { return HeldDigest{d[0] ^ t[0], d[1] ^ t[1]} }

// HeldDigester computes the terms of held digests; it is safe for
// concurrent use.
type HeldDigester struct{ block cipher.Block }

// heldDigestLabel separates the digest's key from the cursors' MAC key.
const heldDigestLabel = "ticketstream held-tickets digest v1"

// HeldDigester returns the digester of s's key: replicas that share the key
// compute the same digests.
func (s *CursorSealer) HeldDigester() *HeldDigester {
	return &HeldDigester{block: deriveBlock(s.key, heldDigestLabel)}
}

// NewHeldDigester returns a digester under key itself, for tests of
// code that keeps digests.
func NewHeldDigester(key []byte) *HeldDigester {
	return &HeldDigester{block: deriveBlock(key, heldDigestLabel)}
}

// TeamTag names a team in digest terms: the first 7 bytes of the SHA-256 of
// its name as JSON-escaped in the server's messages.
func TeamTag(escaped []byte) uint64 {
	sum := sha256.Sum256(escaped)
	return binary.BigEndian.Uint64(sum[:8]) >> 8
}

// Term is the digest term of ticket id held under status (its number in
// the server's count order) and the team of tag. scratch is the caller's,
// so that the cipher's buffer is not allocated for each term.
func (d *HeldDigester) Term(scratch *[16]byte, id int64, status uint8, tag uint64) HeldDigest {
	binary.BigEndian.PutUint64(scratch[:8], uint64(id))
	binary.BigEndian.PutUint64(scratch[8:], tag&(1<<56-1)|uint64(status)<<56)
	d.block.Encrypt(scratch[:], scratch[:])
	return HeldDigest{binary.BigEndian.Uint64(scratch[:8]), binary.BigEndian.Uint64(scratch[8:])}
}

// heldSealLabel derives the key a cursor's digest is encrypted under.
const heldSealLabel = "ticketstream held-digest seal v1"

// deriveBlock returns AES-128 under the first 16 bytes of HMAC-SHA256(key,
// label).
func deriveBlock(key []byte, label string) cipher.Block {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	block, err := aes.NewCipher(mac.Sum(nil)[:16])
	if err != nil {
		panic("domain: AES-128 refused a 16-byte key: " + err.Error())
	}
	return block
}

// sealHeld encrypts d with block, into scratch.
func sealHeld(block cipher.Block, scratch *[16]byte, d HeldDigest, decrypt bool) HeldDigest {
	binary.BigEndian.PutUint64(scratch[:8], d[0])
	binary.BigEndian.PutUint64(scratch[8:], d[1])
	if decrypt {
		block.Decrypt(scratch[:], scratch[:])
	} else {
		block.Encrypt(scratch[:], scratch[:])
	}
	return HeldDigest{binary.BigEndian.Uint64(scratch[:8]), binary.BigEndian.Uint64(scratch[8:])}
}
