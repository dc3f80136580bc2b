package app

import (
	"time"

	"github.com/ticketstream/ticketstream/app/internal/knobs"
)

// The settings that are not part of the exported configuration are reached
// through package knobs: tests of other packages poison released buffers
// and benchmarks set the busy pace of reads (package apptest), and package
// tune measures a Streamer without a pool.
func init() {
	knobs.PoisonReleased = func(cfg any) {
		switch c := cfg.(type) {
		case *Config:
			c.poisonReleased = true
		case *HubConfig:
			c.poisonReleased = true
		default:
			panic("knobs.PoisonReleased: not a *Config or *HubConfig")
		}
	}
	knobs.NoPool = func(cfg any) { cfg.(*Config).noPool = true }
	knobs.BusyPace = func(cfg any, d time.Duration) { cfg.(*HubConfig).busyPace = d }
}
