// The hub's configuration: what each field means, what zero means (the
// default), and the one place that checks and fills it (withDefaults,
// called by NewHub). It holds no state and no lock.

package app

import (
	"cmp"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// HubConfig sets the fan-out hub's pace and bounds. Zero fields take the
// defaults of DefaultHubConfig.
type HubConfig struct {
	// PollInterval is how often the change feed is read when it was empty;
	// at most half of StallWarning.
	PollInterval time.Duration
	// BatchSize is how many changes are read from the feed at a time.
	BatchSize int
	// QueueBytes bounds the changes waiting for one subscriber. A subscriber
	// that falls behind has its waiting changes coalesced (only the latest
	// version of each ticket waits); one still over the bound is dropped.
	QueueBytes int
	// KeepVersionsBytes: while less than this waits for a subscriber, a
	// newer version of a ticket queues behind the waiting one, so that a
	// dashboard about one message behind still gets every version; further
	// behind, the newer version replaces the waiting one. 1 keeps only the
	// latest version of each ticket always.
	KeepVersionsBytes int
	// Retention is how long removals stay resumable; older ones are pruned.
	Retention time.Duration
	// PruneInterval is how often removals past Retention are pruned.
	PruneInterval time.Duration
	// StallWarning: a feed not read for this long counts as stalled
	// (HubStats.Stalled, and a warning), and an open writing transaction
	// this old — which holds back no delivery and no pruning, but
	// PostgreSQL's vacuum, and which every cursor carries while it is
	// open, unless it holds a lock the feed's read waits on — is logged
	// as a warning.
	StallWarning time.Duration
	// RetryMax bounds the wait between attempts while the feed fails.
	RetryMax time.Duration
	// ReadTimeout: a feed read whose database answers no page of changes
	// for this long is given up and retried on a fresh connection. A
	// connection that stays open but never answers (a network that
	// stopped forwarding) would otherwise hold the read, and every
	// dashboard, until the kernel gives it up many minutes later. Set
	// below the longest page of a database that answers (each statement
	// of a page may run up to the statement timeout), a page that waits
	// that long on a lock is given up and retried too; the time spent
	// offering a page to dashboards does not count. Zero: the larger of
	// three stall warnings and DefaultReadTimeout (the server sets it from
	// its statement timeout: gormstore.Config.FeedPageTimeout).
	ReadTimeout time.Duration
	// MemoryBudget bounds the memory all subscriptions keep together: what
	// their dashboards hold (about 11-14 bytes a ticket) and the changes
	// waiting for them. A subscription that would pass it is failed with
	// ErrMemoryBudget, and no new one starts while it is spent.
	MemoryBudget int64

	// poisonReleased overwrites every buffer given back to the pool, so that
	// a writer that kept one sends garbage. For tests (see package apptest).
	poisonReleased bool
	// busyPace replaces the pace of reads while writers are busy (see
	// readPace). For tests and benchmarks (apptest.WithBusyPace).
	busyPace time.Duration
}

// DefaultReadTimeout is HubConfig.ReadTimeout's least default: four
// statements of a feed page at the database's default statement timeout
// (30 s), and a margin.
const DefaultReadTimeout = 125 * time.Second

// MinStallWarning is the least stall warning: the watches look every half
// of it.
const MinStallWarning = time.Second

// DefaultHubConfig polls every 10ms, queues up to 1 MiB per subscriber and
// keeps removals for 24 hours.
func DefaultHubConfig() HubConfig {
	return HubConfig{
		PollInterval: 10 * time.Millisecond,
		BatchSize:    DefaultBatchSize,
		QueueBytes:   1 << 20,
		// One live message's worth (see wsgateway): a dashboard whose
		// writer is at most that far behind gets every version.
		KeepVersionsBytes: 64 << 10,
		Retention:         24 * time.Hour,
		PruneInterval:     time.Minute,
		StallWarning:      10 * time.Second,
		RetryMax:          2 * time.Second,
		ReadTimeout:       DefaultReadTimeout,
		MemoryBudget:      1 << 30,
	}
}

// Validate reports a negative setting, naming it: zero means the
// default of DefaultHubConfig, a negative value is an error.
func (c HubConfig) Validate() error {
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{c.PollInterval, "poll-interval"}, {c.Retention, "change-retention"}, {c.PruneInterval, "prune-interval"},
		{c.StallWarning, "stall-warning"}, {c.RetryMax, "retry-max"}, {c.ReadTimeout, "feed-read-timeout"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	if c.StallWarning > 0 && c.StallWarning < MinStallWarning {
		return domain.Invalidf("stall-warning", "must be 0 (the default) or at least %s, got %s", MinStallWarning, c.StallWarning)
	}
	// An idle feed is read every poll interval: one at least half the stall
	// warning would have it counted stalled (HubStats.Stalled, the warning,
	// readiness) between reads that come on time.
	d := DefaultHubConfig()
	if poll, stall := cmp.Or(c.PollInterval, d.PollInterval), cmp.Or(c.StallWarning, d.StallWarning); poll > stall/2 {
		return domain.Invalidf("poll-interval", "must be at most half --stall-warning (%s), got %s: an idle feed read this seldom would count as stalled between reads on time; shorten it or raise --stall-warning", stall, poll)
	}
	for _, f := range []struct {
		v     int64
		param string
	}{{int64(c.BatchSize), "live-batch-size"}, {int64(c.QueueBytes), "live-queue-bytes"},
		{int64(c.KeepVersionsBytes), "live-keep-versions-bytes"}, {c.MemoryBudget, "live-memory-budget"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or more")
		}
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c HubConfig) withDefaults() (HubConfig, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	d := DefaultHubConfig()
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.PollInterval, d.PollInterval}, {&c.Retention, d.Retention},
		{&c.PruneInterval, d.PruneInterval}, {&c.StallWarning, d.StallWarning}, {&c.RetryMax, d.RetryMax}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = d.MemoryBudget
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = max(3*c.StallWarning, DefaultReadTimeout)
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.KeepVersionsBytes == 0 {
		c.KeepVersionsBytes = d.KeepVersionsBytes
	}
	return c, nil
}
