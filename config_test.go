package ticketstream_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

func TestConfig_ValidateNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	loopback := ticketstream.ServerConfig{Addr: "127.0.0.1:8080"}
	with := func(f func(*ticketstream.Config)) ticketstream.Config {
		c := ticketstream.Config{Server: loopback}
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		cfg   ticketstream.Config
		param string
	}{
		{"negative pool", with(func(c *ticketstream.Config) { c.Database.MaxOpenConns = -1 }), "db-max-conns"},
		{"negative batch", with(func(c *ticketstream.Config) { c.Stream.BatchSize = -1 }), "batch-size"},
		{"negative poll interval", with(func(c *ticketstream.Config) { c.Live.PollInterval = -time.Millisecond }), "poll-interval"},
		{"poll interval past half the readiness staleness", with(func(c *ticketstream.Config) {
			c.Live.PollInterval, c.Live.StallWarning, c.Server.REST.FeedStaleAfter = 3*time.Second, time.Minute, 5*time.Second
		}), "poll-interval"},
		{"poll interval past half the default readiness staleness", with(func(c *ticketstream.Config) {
			c.Live.PollInterval, c.Live.StallWarning = 16*time.Second, time.Minute
		}), "poll-interval"},
		{"poll interval that once wrapped when doubled", with(func(c *ticketstream.Config) {
			c.Live.PollInterval, c.Live.StallWarning = 2_000_000*time.Hour, math.MaxInt64
		}), "poll-interval"},
		{"negative REST write timeout", with(func(c *ticketstream.Config) { c.Server.REST = restapi.Config{WriteTimeout: -time.Second} }), "rest-write-timeout"},
		{"negative socket write timeout", with(func(c *ticketstream.Config) { c.Server.WebSocket = wsgateway.Options{WriteTimeout: -time.Second} }), "write-timeout"},
		{"negative demo tickets", with(func(c *ticketstream.Config) { c.Server.DemoTickets = -1 }), "demo-tickets"},
		{"short token secret", with(func(c *ticketstream.Config) { c.Server.JWTSecret = "short" }), "jwt-secret"},
		{"negative token lifetime", with(func(c *ticketstream.Config) { c.Server.Token.MaxLifetime = -time.Hour }), "jwt-max-lifetime"},
		{"negative shutdown timeout", with(func(c *ticketstream.Config) { c.Server.ShutdownTimeout = -time.Second }), "shutdown-timeout"},
		{"internal listener not an address", with(func(c *ticketstream.Config) { c.Server.InternalAddr = "9090" }), "internal-listen"},
		{"public profiler", with(func(c *ticketstream.Config) { c.Server.InternalAddr, c.Server.Profiler = "0.0.0.0:9464", true }), "internal-listen"},
		{"internal listener on the public one", with(func(c *ticketstream.Config) { c.Server.InternalAddr = "127.0.0.1:8080" }), "internal-listen"},
		{"open access off loopback", with(func(c *ticketstream.Config) {
			c.Server.Addr, c.Server.AllowedHosts = "10.0.0.1:8080", []string{"localhost"}
		}), "jwt-secret"},
		{"public origin with auth off", with(func(c *ticketstream.Config) { c.Server.WebSocket.AllowedOrigins = []string{"dash.example.com"} }), "allowed-origins"},
		{"wildcard listen without hosts", with(func(c *ticketstream.Config) { c.Server.Addr, c.Server.JWTSecret = "0.0.0.0:8080", secret }), "allowed-hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var derr *domain.Error
			if err := tc.cfg.Validate(); !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
				t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
			}
		})
	}
	ok := ticketstream.Config{Stream: app.Config{}, Server: loopback}
	if err := ok.Validate(); err != nil {
		t.Fatalf("zero settings on loopback: %v", err)
	}
	slow := ticketstream.Config{Live: app.HubConfig{PollInterval: 15 * time.Second, StallWarning: 30 * time.Second}, Server: loopback}
	if err := slow.Validate(); err != nil {
		t.Fatalf("a poll interval of half the stall warning and of the readiness staleness: %v", err)
	}
}
