package wsgateway

import "github.com/ticketstream/ticketstream/domain"

// sealedCursor is a subscription's cursor with the sealer that writes it
// into messages: clients only ever see it sealed with the server's key, so
// that the cursor they hand back on a resume can be trusted.
type sealedCursor struct {
	domain.LiveCursor
	sealer *domain.CursorSealer
}

// AppendText appends the sealed form of the cursor to dst without allocating.
func (c sealedCursor) AppendText(dst []byte) []byte {
	return c.sealer.AppendLiveCursor(dst, c.LiveCursor)
}

// String returns the sealed form of the cursor.
func (c sealedCursor) String() string { return c.sealer.LiveCursorString(c.LiveCursor) }
