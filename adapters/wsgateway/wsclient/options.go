package wsclient

import "net/http"

// Option changes how Dial connects.
type Option func(*dialConfig)

// dialConfig is what the options set.
type dialConfig struct {
	noCompression bool
	held          bool
	httpClient    *http.Client
}

// WithHeld makes a resuming Dial claim what the view holds (held=N and
// held messages), so that the server need not read it back from the
// database. Off by default for now: with claims, the proof once ended with
// a dashboard holding a ticket that had left its filter (see the README's
// limits), which it has not without them.
func WithHeld() Option {
	return func(c *dialConfig) { c.held = true }
}

// WithoutCompression makes Dial not offer permessage-deflate: every message
// then comes uncompressed. By default Dial offers it, without context
// takeover, as the server accepts it: a message the server compresses costs
// the client a pooled decompressor while it is read, and nothing while the
// socket idles.
func WithoutCompression() Option {
	return func(c *dialConfig) { c.noCompression = true }
}

// WithHTTPClient makes Dial upgrade through client rather than
// http.DefaultClient — for one whose Transport counts the bytes on the wire
// (WireCounter.HTTPClient) or dials another way. Its Timeout must be 0: a
// socket lives longer than any request.
func WithHTTPClient(client *http.Client) Option {
	return func(c *dialConfig) { c.httpClient = client }
}
