package wsgateway

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestOptions_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultOptions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("zero options = %+v, want the defaults %+v", got, want)
	}
}

func TestOptions_ValidateNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  Options
		param string
	}{
		{"negative connections", Options{MaxConnections: -1}, "max-connections"},
		{"negative per token", Options{MaxConnectionsPerToken: -1}, "max-connections-per-token"},
		{"negative per address", Options{MaxConnectionsPerAddress: -1}, "max-connections-per-address"},
		{"negative burst", Options{SubscribeBurst: -1}, "subscribe-burst"},
		{"negative rate", Options{SubscribesPerSecond: -1}, "subscribes-per-second"},
		{"rate not a number", Options{SubscribesPerSecond: math.NaN()}, "subscribes-per-second"},
		{"infinite rate", Options{SubscribesPerSecond: math.Inf(1)}, "subscribes-per-second"},
		{"negative message bound", Options{MaxMessageBytes: -1}, "max-message-bytes"},
		{"message bound too small for a subscribe", Options{MaxMessageBytes: 10}, "max-message-bytes"},
		{"message bound past the limit", Options{MaxMessageBytes: MaxMessageBytesLimit + 1}, "max-message-bytes"},
		{"negative write timeout", Options{WriteTimeout: -time.Second}, "write-timeout"},
		{"negative queue", Options{QueueChunks: -1}, "queue-chunks"},
		{"queue too long", Options{QueueChunks: MaxQueueChunks + 1}, "queue-chunks"},
		{"negative ping interval", Options{PingInterval: -time.Second}, "ping-interval"},
		{"negative compression threshold", Options{CompressionThreshold: -1}, "ws-compression-threshold"},
		{"origin not a host pattern", Options{AllowedOrigins: []string{"dash.example.com", "*example.com"}}, "allowed-origins"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.opts.Validate(), func() error { _, err := New(nil, nil, nil, nil, tc.opts, nil); return err }()} {
				var derr *domain.Error
				if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
					t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
				}
			}
		})
	}
}
