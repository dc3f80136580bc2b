package restapi

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestConfig_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("zero config = %+v, want the defaults %+v", got, want)
	}
}

func TestConfig_ValidateNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		param string
	}{
		{"negative rows", Config{MaxRows: -1}, "max-rows"},
		{"rows past the limit", Config{MaxRows: MaxRowsLimit + 1}, "max-rows"},
		{"negative write timeout", Config{WriteTimeout: -time.Second}, "rest-write-timeout"},
		{"negative header timeout", Config{ReadHeaderTimeout: -time.Second}, "read-header-timeout"},
		{"negative per token", Config{MaxStreamsPerToken: -1}, "max-streams-per-token"},
		{"negative per address", Config{MaxStreamsPerAddress: -1}, "max-streams-per-address"},
		{"negative staleness", Config{FeedStaleAfter: -time.Second}, "ready-feed-stale-after"},
		{"unknown coding", Config{Compression: "br"}, "rest-compression"},
		{"off among codings", Config{Compression: "off,gzip"}, "rest-compression"},
		{"only commas", Config{Compression: ",,"}, "rest-compression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.cfg.Validate(), func() error { _, err := New(tc.cfg, nil, nil, nil, nil, Mounts{}, nil); return err }()} {
				var derr *domain.Error
				if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
					t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
				}
			}
		})
	}
}

func TestConfig_CompressionNamesTheCodingsOffered(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]codings{
		"zstd,gzip": both, " gzip , zstd ": both, "gzip": codings(0).with(codingGzip), "zstd": codings(0).with(codingZstd), "off": 0,
	} {
		if got, err := parseCompression(in); err != nil || got != want {
			t.Errorf("parseCompression(%q) = %b, %v; want %b", in, got, err, want)
		}
	}
}
