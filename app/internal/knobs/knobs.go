// Package knobs reaches the settings of package app that its exported
// configuration does not offer, for the packages under app that need them:
// poisoning released buffers and the pace of the feed's reads while writers
// are busy, for tests and benchmarks (through package apptest), and
// running without a buffer pool, for the pool-versus-no-pool measurement of
// package tune. Package app fills in the functions when it is initialised;
// being internal, they cannot be called from outside app's tree.
package knobs

import "time"

// PoisonReleased, given a *app.Config or a *app.HubConfig, makes the pool
// built from it overwrite every buffer given back, so that a reader that
// kept one sees garbage. It costs a memset per buffer.
var PoisonReleased func(cfg any)

// NoPool, given a *app.Config, makes the Streamer built from it give every
// chunk a freshly allocated buffer and pool none.
var NoPool func(cfg any)

// BusyPace, given a *app.HubConfig and a time.Duration, replaces the pace
// at which the hub built from it reads the feed while writers are busy,
// held between a tenth of the poll interval and twice it.
var BusyPace func(cfg any, d time.Duration)
