// How the gateway answers a client's offer of permessage-deflate.

package wsgateway

import "github.com/coder/websocket"

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
