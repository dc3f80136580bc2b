package wsclient

import "net/http"

// Option changes how Dial connects.
type Option func(*dialConfig)

// dialConfig is what the options set.
type dialConfig struct {
	noCompression bool
	noHeld        bool
	httpClient    *http.Client
}

// WithoutHeld makes a resuming Dial not say what the view holds (held=N
// and held messages): the server then reads the view back from the
// database, as an older server does. By default Dial says it, so that the
// server reads only what changed since the cursor.
func WithoutHeld() Option {
	return func(c *dialConfig) { c.noHeld = true }
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
