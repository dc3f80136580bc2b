package wsgateway

import (
	"math"

	"github.com/ticketstream/ticketstream/domain"
)

// sealedCursor is a subscription's cursor with the sealer that writes it
// into messages: clients only ever see it sealed with the server's key, so
// that the cursor they hand back on a resume can be trusted. held, when
// set, tells the digest of what the dashboard holds as the cursor is
// written (see domain.HeldDigest): the writer writes each message's
// cursor once the message's rows and changes are in the view.
type sealedCursor struct {
	domain.LiveCursor
	sealer *domain.CursorSealer
	held   heldDigester
}

// heldDigester tells the digest of what a dashboard holds:
// app.Subscription.
type heldDigester interface {
	HeldState() (digest domain.HeldDigest, count int, known bool)
}

// sealed returns the cursor to seal, with the held digest of now.
func (c sealedCursor) sealed() domain.LiveCursor {
	lc := c.LiveCursor
	lc.Held, lc.HeldKnown, lc.HeldCount = domain.HeldDigest{}, false, 0
	if c.held != nil {
		var n int
		lc.Held, n, lc.HeldKnown = c.held.HeldState()
		lc.HeldCount = uint32(min(n, math.MaxUint32))
	}
	return lc
}

// AppendText appends the sealed form of the cursor to dst without allocating.
func (c sealedCursor) AppendText(dst []byte) []byte {
	return c.sealer.AppendLiveCursor(dst, c.sealed())
}

// String returns the sealed form of the cursor.
func (c sealedCursor) String() string { return c.sealer.LiveCursorString(c.sealed()) }
