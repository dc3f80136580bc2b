// How the gateway answers a client's offer of permessage-deflate.

package wsgateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// acceptOptions are the upgrade's options: our subprotocol, and
// permessage-deflate for a client that offers it unless it is disabled.
//
// Compression is negotiated without context takeover in both directions:
// coder/websocket then compresses each message with a flate writer taken
// from a pool and given back at once (and decompresses with a pooled
// reader), so an idle socket holds no compressor and no 32 KB window.
// Messages below the threshold go out uncompressed, in the same frame
// format as on a socket without compression.
func (g *Gateway) acceptOptions() *websocket.AcceptOptions {
	o := &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // the origin was checked before, with a JSON answer
		CompressionMode:    websocket.CompressionDisabled,
	}
	if !g.opts.DisableCompression {
		o.CompressionMode = websocket.CompressionNoContextTakeover
		o.CompressionThreshold = g.opts.CompressionThreshold
	}
	return o
}

// negotiatedDeflate reports whether the upgrade's answer, whose header is
// h, agreed to permessage-deflate.
func negotiatedDeflate(h http.Header) bool {
	return strings.HasPrefix(h.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
}

// writeUncompressed writes msg as one text message that is not compressed,
// on a socket that negotiated compression, whatever its size. coder/websocket
// decides whether to compress a message by its length (at least the
// threshold, which is never 0) on the message's first write, so an empty
// first frame keeps the whole message uncompressed: the client receives an
// empty data frame, the message, and an empty final frame (RFC 6455 §5.4),
// which every client reassembles. The frames sit in the socket's write
// buffer until the last one flushes it, so this costs no more writes to
// the network than one frame would. TestCompression_MessagesArriveIdentical
// checks what arrives, down to the bytes on the wire.
func (c *conn) writeUncompressed(ctx context.Context, msg []byte) error {
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	if _, err := w.Write(msg[:0]); err != nil {
		w.Close()
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
