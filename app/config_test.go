package app

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// wantInvalid fails t unless err is an EInvalid error naming param.
func wantInvalid(t *testing.T, err error, param string) {
	t.Helper()
	var derr *domain.Error
	if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != param {
		t.Fatalf("err = %v, want EInvalid naming %q", err, param)
	}
}

func TestConfig_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); got != want {
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
		{"negative initial capacity", Config{InitialCapacity: -1}, "initial-capacity"},
		{"initial capacity past the limit", Config{InitialCapacity: MaxBufferBytes + 1}, "initial-capacity"},
		{"negative chunk threshold", Config{ChunkThreshold: -1}, "chunk-threshold"},
		{"chunk threshold past the limit", Config{ChunkThreshold: MaxBufferBytes + 1}, "chunk-threshold"},
		{"negative batch", Config{BatchSize: -1}, "batch-size"},
		{"batch past the limit", Config{BatchSize: MaxBatchSize + 1}, "batch-size"},
		{"negative pooled capacity", Config{MaxPooledCapacity: -1}, "max-pooled-capacity"},
		{"pooled capacity under the default initial one", Config{MaxPooledCapacity: 1024}, "max-pooled-capacity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, tc.cfg.Validate(), tc.param)
			_, err := NewStreamer(nil, tc.cfg)
			wantInvalid(t, err, tc.param)
		})
	}
	if err := (Config{InitialCapacity: MaxBufferBytes, ChunkThreshold: 1, BatchSize: MaxBatchSize}).Validate(); err != nil {
		t.Fatalf("the limits themselves are refused: %v", err)
	}
}

func TestHubConfig_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := HubConfig{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultHubConfig(); got != want {
		t.Fatalf("zero config = %+v, want the defaults %+v", got, want)
	}
	set := HubConfig{PollInterval: time.Hour, StallWarning: 2 * time.Hour, QueueBytes: 10}
	got, err = set.withDefaults()
	if err != nil || got.PollInterval != time.Hour || got.StallWarning != 2*time.Hour || got.QueueBytes != 10 {
		t.Fatalf("set fields changed: %+v, %v", got, err)
	}
}

func TestHubConfig_ValidateNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   HubConfig
		param string
	}{
		{HubConfig{PollInterval: -time.Millisecond}, "poll-interval"},
		{HubConfig{BatchSize: -1}, "live-batch-size"},
		{HubConfig{QueueBytes: -1}, "live-queue-bytes"},
		{HubConfig{Retention: -time.Second}, "change-retention"},
		{HubConfig{PruneInterval: -time.Second}, "prune-interval"},
		{HubConfig{StallWarning: -time.Second}, "stall-warning"},
		{HubConfig{StallWarning: time.Nanosecond}, "stall-warning"}, // once a panic: a ticker of 0
		{HubConfig{StallWarning: 999 * time.Millisecond}, "stall-warning"},
		{HubConfig{ReadTimeout: -time.Second}, "feed-read-timeout"},
		{HubConfig{RetryMax: -time.Second}, "retry-max"},
		{HubConfig{MemoryBudget: -1}, "live-memory-budget"},
		// An idle feed read this seldom would count as stalled between
		// reads that come on time.
		{HubConfig{PollInterval: 10 * time.Second}, "poll-interval"},
		{HubConfig{PollInterval: 5*time.Second + 1}, "poll-interval"},
		{HubConfig{PollInterval: 2 * time.Second, StallWarning: 3 * time.Second}, "poll-interval"},
		{HubConfig{StallWarning: time.Second, PollInterval: time.Second}, "poll-interval"},
		{HubConfig{PollInterval: math.MaxInt64}, "poll-interval"}, // 2× it once wrapped to a negative, and passed
		{HubConfig{PollInterval: 2_000_000 * time.Hour}, "poll-interval"},
	}
	for _, tc := range tests {
		t.Run(tc.param, func(t *testing.T) {
			wantInvalid(t, tc.cfg.Validate(), tc.param)
			_, err := NewHub(nil, tc.cfg, nil)
			wantInvalid(t, err, tc.param)
		})
	}
	if err := (HubConfig{PollInterval: 5 * time.Second}).Validate(); err != nil {
		t.Fatalf("a poll interval of half the stall warning is refused: %v", err)
	}
}
