package domain

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"
)

// CursorSealer turns cursors into the opaque strings handed to clients and
// reads them back. Every string carries a MAC — HMAC-SHA256 under a server
// key, truncated to 16 bytes — so that a client can only hand back a cursor
// a server gave it: a cursor built by hand or altered is refused, never
// obeyed. Replicas that share the key accept each other's cursors.
//
// Sealing allocates nothing beyond the destination's growth; a CursorSealer
// is safe for concurrent use.
type CursorSealer struct {
	// macs holds HMAC states keyed for this sealer: hmac.New precomputes
	// the hash of the padded key, so a MAC costs three SHA-256 blocks, not
	// five, and reusing the states costs no allocation.
	macs sync.Pool
	key  []byte
	// held encrypts the held digest a live cursor carries (HeldDigest).
	held cipher.Block
	// live encrypts the rest of a live cursor (see AppendLiveCursor).
	live cipher.Block
	// nonce varies each live cursor's sealed text (see AppendLiveCursor).
	nonce atomic.Uint64
}

// macState is one reusable HMAC computation. The body is copied into it
// before hashing, so that the caller's stack array never escapes through
// the hash.Hash interface.
type macState struct {
	h    hash.Hash
	body [maxSealedBody]byte
	// cursor is where a live cursor is built before it is sealed.
	cursor [maxLiveCursorLen]byte
	sum    [sha256.Size]byte
	held   [16]byte // the held digest, encrypted in place
	// ctr and stream are AES-CTR's counter block and keystream block.
	ctr, stream [16]byte
}

// MinCursorKeyLen is the shortest key NewCursorSealer accepts.
const MinCursorKeyLen = 16

// NewCursorSealer returns a CursorSealer for key, which must be secret,
// shared by every replica and at least MinCursorKeyLen bytes (32 random
// bytes is the intended size).
func NewCursorSealer(key []byte) (*CursorSealer, error) {
	if len(key) < MinCursorKeyLen {
		return nil, Invalidf("cursor-key", "must be at least %d bytes, got %d", MinCursorKeyLen, len(key))
	}
	key = bytes.Clone(key)
	s := &CursorSealer{key: key, held: deriveBlock(key, heldSealLabel), live: deriveBlock(key, liveSealLabel)}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	var start [8]byte
	_, _ = rand.Read(start[:]) // never fails (crypto/rand)
	s.nonce.Store(binary.BigEndian.Uint64(start[:]))
	return s, nil
}

// macLen is the size of the truncated MAC at the end of a sealed cursor.
const macLen = 16

// maxSealedBody is the largest body sealed: a live cursor without its MAC.
const maxSealedBody = maxLiveCursorLen - macLen

// sum computes the truncated HMAC-SHA256 of body into out.
func (s *CursorSealer) sum(out *[macLen]byte, body []byte) {
	st := s.macs.Get().(*macState)
	st.h.Reset()
	for len(body) > 0 { // a sorted cursor may be longer than st.body
		n := copy(st.body[:], body)
		st.h.Write(st.body[:n])
		body = body[n:]
	}
	copy(out[:], st.h.Sum(st.sum[:0])[:macLen])
	s.macs.Put(st)
}

// seal writes the MAC of b's body into b's last macLen bytes.
func (s *CursorSealer) seal(b []byte) {
	var m [macLen]byte
	s.sum(&m, b[:len(b)-macLen])
	copy(b[len(b)-macLen:], m[:])
}

// verify reports whether b's last macLen bytes are the MAC of the rest.
func (s *CursorSealer) verify(b []byte) bool {
	var m [macLen]byte
	s.sum(&m, b[:len(b)-macLen])
	return subtle.ConstantTimeCompare(m[:], b[len(b)-macLen:]) == 1
}

// The reasons a cursor of the right shape is refused. Each tells the client
// what to do: drop the cursor and start again.
const (
	msgMalformedCursor = "malformed cursor"
	msgOldCursor       = "the cursor comes from an older version of the server: start again without it"
	msgForgedCursor    = "the cursor was not issued by this server or was altered: start again without it"
)

// AppendCursor appends the sealed, URL-safe form of c to dst; the zero
// Cursor appends nothing.
func (s *CursorSealer) AppendCursor(dst []byte, c Cursor) []byte {
	if c.IsZero() {
		return dst
	}
	var b [cursorLen]byte
	b[0] = cursorVersion
	putCursor(b[1:], c)
	s.seal(b[:])
	return base64.RawURLEncoding.AppendEncode(dst, b[:])
}

// CursorString returns the sealed form of c; the zero Cursor is "".
func (s *CursorSealer) CursorString(c Cursor) string { return string(s.AppendCursor(nil, c)) }

// OpenCursor reads what CursorString produced. The empty string is the zero
// Cursor. A cursor that is malformed, from an older version of the server,
// or not sealed with this key is an EInvalid error naming the "cursor"
// parameter, whose message says which.
func (s *CursorSealer) OpenCursor(text string) (Cursor, error) {
	if text == "" {
		return Cursor{}, nil
	}
	if len(text) == encodedOldCursorLen {
		if b, ok := decodeExactly(text, oldCursorLen); ok && b[0] == oldCursorVersion {
			return Cursor{}, Invalidf(ParamCursor, msgOldCursor)
		}
		return Cursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if len(text) != encodedCursorLen {
		if isSortCursor(text) {
			return Cursor{}, Invalidf(ParamCursor, msgSortedCursor)
		}
		return Cursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	b, ok := decodeExactly(text, cursorLen)
	if !ok || b[0] != cursorVersion {
		if isSortCursor(text) {
			return Cursor{}, Invalidf(ParamCursor, msgSortedCursor)
		}
		return Cursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if !s.verify(b) {
		return Cursor{}, Invalidf(ParamCursor, msgForgedCursor)
	}
	c, ok := getCursor(b[1:])
	if !ok || c.IsZero() {
		return Cursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	return c, nil
}

// liveSealLabel derives the key a live cursor is encrypted under.
const liveSealLabel = "ticketstream live cursor seal v1"

// sealedLiveBodyLen is the length of every sealed live cursor's body: the
// longest there is, its fields followed by zeros.
const sealedLiveBodyLen = maxLiveCursorLen - macLen

// AppendLiveCursor appends the sealed, URL-safe form of c to dst. A
// position with more than CursorPendingMax pending transactions is sealed
// lowered (see CursorPendingMax).
//
// A live cursor is MACed, encrypted and of one length: its positions are
// transaction numbers of the whole database server, which a client scoped
// to one team must not read (how many transactions ran, and when, and how
// many are open, anywhere). The body after the version byte is encrypted
// with AES-CTR whose counter starts at the body's MAC — a synthetic IV —
// and opening decrypts with the MAC it carries and then checks that MAC.
// The body begins with a nonce, a counter of the sealer's that started at
// a random value: the same cursor never seals to the same text twice. Were
// it to, a client scoped to one team could subscribe again and again and
// see, from whether the cursor's text changed, when the server's position
// moved: when any transaction, of another team or another database of the
// server, ran.
//
// The cursor is built in the pooled MAC state, not on the stack: a
// socket's writer is a fresh goroutine for each change it writes, and a
// few hundred bytes more of frame made every one of them grow its stack.
func (s *CursorSealer) AppendLiveCursor(dst []byte, c LiveCursor) []byte {
	st := s.macs.Get().(*macState)
	if c.HeldKnown {
		c.Held = sealHeld(s.held, &st.held, c.Held, false)
	}
	b := c.capped().appendTo(st.cursor[:0])
	binary.BigEndian.PutUint64(b[2:2+liveNonceLen], s.nonce.Add(1))
	// Padded to the longest body: a length that grew with the pending
	// transactions, and with the distances between positions, would tell
	// what the encryption hides.
	n := len(b)
	b = b[:sealedLiveBodyLen]
	clear(b[n:])
	st.h.Reset()
	st.h.Write(b)
	b = append(b, st.h.Sum(st.sum[:0])[:macLen]...)
	s.crypt(st, b)
	dst = base64.RawURLEncoding.AppendEncode(dst, b)
	s.macs.Put(st)
	return dst
}

// LiveCursorString returns the sealed form of c.
func (s *CursorSealer) LiveCursorString(c LiveCursor) string {
	return string(s.AppendLiveCursor(nil, c))
}

// OpenLiveCursor reads what LiveCursorString produced. A cursor that is
// malformed, from an older version of the server, or not sealed with this
// key is an EInvalid error naming the "cursor" parameter, whose message
// says which.
func (s *CursorSealer) OpenLiveCursor(text string) (LiveCursor, error) {
	for _, old := range [...]struct {
		encoded, n int
		version    byte
	}{{encodedOldLiveCursorLen, oldLiveCursorLen, oldLiveCursorVersion}, {encodedPrevLiveCursorLen, prevLiveCursorLen, prevLiveCursorVersion}, {encodedV4LiveCursorLen, v4LiveCursorLen, v4LiveCursorVersion}} {
		if len(text) != old.encoded {
			continue
		}
		if b, ok := decodeExactly(text, old.n); ok && b[0] == old.version {
			return LiveCursor{}, Invalidf(ParamCursor, msgOldCursor)
		}
	}
	b, ok := decodeLiveCursor(text)
	switch {
	case ok && (b[0] == v5LiveCursorVersion || b[0] == v6LiveCursorVersion):
		return LiveCursor{}, Invalidf(ParamCursor, msgOldCursor)
	case !ok || b[0] != liveCursorVersion || len(b) != sealedLiveBodyLen+macLen:
		return LiveCursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	st := s.macs.Get().(*macState)
	s.crypt(st, b)
	s.macs.Put(st)
	if !s.verify(b) {
		return LiveCursor{}, Invalidf(ParamCursor, msgForgedCursor)
	}
	c, ok := getLiveCursor(b[:len(b)-macLen])
	if !ok {
		return LiveCursor{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if c.HeldKnown {
		var scratch [16]byte
		c.Held = sealHeld(s.held, &scratch, c.Held, true)
	}
	return c, nil
}

// crypt encrypts or decrypts, in place, the body of b, a sealed live
// cursor: the bytes between its version and its MAC, with AES-CTR from the
// MAC.
func (s *CursorSealer) crypt(st *macState, b []byte) {
	copy(st.ctr[:], b[len(b)-macLen:])
	for body := b[1 : len(b)-macLen]; len(body) > 0; {
		s.live.Encrypt(st.stream[:], st.ctr[:])
		body = body[subtle.XORBytes(body, body, st.stream[:]):]
		binary.BigEndian.PutUint64(st.ctr[8:], binary.BigEndian.Uint64(st.ctr[8:])+1)
	}
}

// decodeLiveCursor decodes text when it has the length and version of a
// live cursor of this version or of version 5, which had the same lengths.
func decodeLiveCursor(text string) ([]byte, bool) {
	if len(text) < encodedMinLiveCursorLen || len(text) > encodedMaxLiveCursorLen {
		return nil, false
	}
	b, ok := decodeExactly(text, strictBase64.DecodedLen(len(text)))
	if !ok || (b[0] != liveCursorVersion && b[0] != v6LiveCursorVersion && b[0] != v5LiveCursorVersion) {
		return nil, false
	}
	return b, true
}

// IsLiveCursor reports whether text has the shape of a live cursor, of
// this version or an older one, rather than of a snapshot Cursor, so that
// one "cursor" parameter can carry either.
func IsLiveCursor(text string) bool {
	switch len(text) {
	case encodedOldLiveCursorLen, encodedPrevLiveCursorLen, encodedV4LiveCursorLen:
		return true
	}
	_, ok := decodeLiveCursor(text)
	return ok
}

// IsCursorShaped reports whether text is base64 of the length of a cursor
// a server hands out, of this version or an older one: what a client may
// hold from an earlier connection — possibly altered, or sealed with
// another key — as opposed to text that never was a cursor.
func IsCursorShaped(text string) bool {
	for _, n := range [...]int{cursorLen, oldCursorLen, v4LiveCursorLen, oldLiveCursorLen, prevLiveCursorLen} {
		if _, ok := decodeExactly(text, n); ok {
			return true
		}
	}
	if len(text) >= encodedMinLiveCursorLen && len(text) <= encodedMaxLiveCursorLen {
		_, ok := decodeExactly(text, strictBase64.DecodedLen(len(text)))
		return ok
	}
	return false
}

// strictBase64 refuses stray low bits in the last character: one cursor,
// one text.
var strictBase64 = base64.RawURLEncoding.Strict()

// decodeExactly decodes unpadded URL-safe base64 of exactly n bytes.
func decodeExactly(text string, n int) ([]byte, bool) {
	if strictBase64.EncodedLen(n) != len(text) {
		return nil, false
	}
	buf := make([]byte, n)
	got, err := strictBase64.Decode(buf, []byte(text))
	if err != nil || got != n {
		return nil, false
	}
	return buf, true
}
