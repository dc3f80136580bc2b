package app

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// SWAR constants: one bit or byte value repeated in each of 8 bytes.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// escapeMask flags, in the high bit of each byte of the little-endian word x,
// the bytes that appendEscaped cannot copy as they are: control characters,
// '"', '\\', '<', '>', '&', and every byte of a multi-byte UTF-8 sequence
// (which may be invalid or U+2028/U+2029).
//
// A byte equal to c is a zero byte of x^c, and v-lsb sets the high bit of
// each zero byte of v. '<' (0x3C) and '>' (0x3E) differ only in bit 1, '"'
// (0x22) and '&' (0x26) only in bit 2, so setting that bit first tests each
// pair at once. A byte at or above 0x80 is flagged by x itself, which also
// makes the usual "&^ v" guard unnecessary. The lowest flagged byte is exact;
// a borrow can flag bytes above it falsely, which only costs a slower look.
func escapeMask(x uint64) uint64 {
	ltgt := (x | lsb*0x02) ^ (lsb * '>')
	qamp := (x | lsb*0x04) ^ (lsb * '&')
	bs := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | (ltgt - lsb) | (qamp - lsb) | (bs - lsb) | x) & msb
}

// load64 reads s[i:i+8] as a little-endian word; the compiler merges the byte
// loads into one.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// safeASCII marks the single bytes that a JSON string (with HTML escaping)
// carries unchanged, as encoding/json's htmlSafeSet does.
var safeASCII = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendIfClean appends s to dst and reports true if no byte of s needs
// escaping — the common case — checking and copying 8 bytes at a time. If s
// needs escaping it reports false and leaves dst's length unchanged (its
// capacity may have grown).
func appendIfClean(dst []byte, s string) ([]byte, bool) {
	n, k := len(s), len(dst)
	if cap(dst)-k < n {
		dst = slices.Grow(dst, n)
	}
	out := dst[k : k+n]
	switch {
	case n >= 8:
		i := 0
		for ; i+16 <= n; i += 16 { // two independent words per branch
			x, y := load64(s, i), load64(s, i+8)
			if escapeMask(x)|escapeMask(y) != 0 {
				return dst, false
			}
			binary.LittleEndian.PutUint64(out[i:], x)
			binary.LittleEndian.PutUint64(out[i+8:], y)
		}
		if i+8 <= n {
			x := load64(s, i)
			if escapeMask(x) != 0 {
				return dst, false
			}
			binary.LittleEndian.PutUint64(out[i:], x)
			i += 8
		}
		if i < n { // the last partial word, read and written as the final 8 bytes
			x := load64(s, n-8)
			if escapeMask(x) != 0 { // the bytes before i are clean: no false flags
				return dst, false
			}
			binary.LittleEndian.PutUint64(out[n-8:], x)
		}
	case n >= 4: // two overlapping 4-byte words
		a, b := load32(s, 0), load32(s, n-4)
		if escapeMask(uint64(a)|uint64(b)<<32) != 0 {
			return dst, false
		}
		binary.LittleEndian.PutUint32(out, a)
		binary.LittleEndian.PutUint32(out[n-4:], b)
	default:
		for i := range n {
			if !safeASCII[s[i]] {
				return dst, false
			}
			out[i] = s[i]
		}
	}
	return dst[:k+n], true
}

// scan returns the index of the first byte at or after i that appendEscaped
// cannot copy as it is, or len(s). It reads 8 bytes at a time; the last
// partial word is read as the final 8 bytes of s, ignoring those before i.
func scan(s string, i int) int {
	n := len(s)
	for ; i+16 <= n; i += 16 { // two independent words per branch
		m0, m1 := escapeMask(load64(s, i)), escapeMask(load64(s, i+8))
		if m0|m1 != 0 {
			if m0 != 0 {
				return i + bits.TrailingZeros64(m0)>>3
			}
			return i + 8 + bits.TrailingZeros64(m1)>>3
		}
	}
	for ; i+8 <= n; i += 8 {
		if m := escapeMask(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i == n {
		return n
	}
	if n >= 8 {
		// An escaped control character before i may borrow and flag safe
		// bytes above it, so the lowest flag is only a place to start looking.
		skip := uint(8 - (n - i))
		m := escapeMask(load64(s, n-8)) >> (8 * skip)
		if m == 0 {
			return n
		}
		i += bits.TrailingZeros64(m) >> 3
	}
	if n-i >= 4 { // 4 to 7 bytes: two overlapping 4-byte reads cover them
		if escapeMask(uint64(load32(s, i))|uint64(load32(s, n-4))<<32) == 0 {
			return n
		}
	}
	for i < n && safeASCII[s[i]] {
		i++
	}
	return i
}

// load32 reads s[i:i+4] as a little-endian word.
func load32(s string, i int) uint32 {
	s = s[i : i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends the inside of s's JSON string, escaped as
// encoding/json escapes it with HTML escaping on; the caller writes the quotes.
func appendEscaped(dst []byte, s string) []byte {
	dst, clean := appendIfClean(dst, s)
	if clean {
		return dst
	}
	start := 0
	for i := scan(s, 0); i < len(s); i = scan(s, i) {
		b := s[i]
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, >, &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			start = i + size
		}
		i += size
	}
	return append(dst, s[start:]...)
}
