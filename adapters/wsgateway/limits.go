package wsgateway

import (
	"time"

	"github.com/ticketstream/ticketstream/adapters/peerlimit"
)

// limitRetryAfter is what a refused upgrade is told to wait: sockets of
// the same token or address must close first, which takes a dashboard's
// lifetime, not a moment, so an immediate retry only loads the server.
const limitRetryAfter = 10 * time.Second

// newConnLimits counts the open sockets of each token and each client
// address, so that one client cannot take every socket the server allows.
func newConnLimits(opts Options, checkTokens bool) *peerlimit.Limits {
	return peerlimit.New(peerlimit.Config{
		PerToken: opts.MaxConnectionsPerToken, PerAddress: opts.MaxConnectionsPerAddress, CheckTokens: checkTokens,
		TokenSetting: "max-connections-per-token", AddressSetting: "max-connections-per-address",
		Code: "too_many_connections", Noun: "open connections", RetryAfter: limitRetryAfter,
	})
}
