// Package apptest configures package app for the tests of other packages.
package apptest

import (
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/internal/knobs"
)

// Poisoned returns cfg with poisoning on: every buffer the Streamer's pool
// is given back is overwritten, so that a sink that kept a chunk after
// releasing it sends garbage a test can see.
func Poisoned(cfg app.Config) app.Config {
	knobs.PoisonReleased(&cfg)
	return cfg
}

// PoisonedHub returns cfg with poisoning on, as Poisoned does, for the
// hub's shared change buffers.
func PoisonedHub(cfg app.HubConfig) app.HubConfig {
	knobs.PoisonReleased(&cfg)
	return cfg
}

// WithBusyPace returns cfg with d in place of the hub's own pace of reads
// while writers are busy (20 ms), held like it between a tenth of the
// poll interval and twice it: for benchmarks that compare what reads cost
// the writers.
func WithBusyPace(cfg app.HubConfig, d time.Duration) app.HubConfig {
	knobs.BusyPace(&cfg, d)
	return cfg
}
