//go:build !race

package app

// raceAllocSlack is 0 outside -race: the stream must not allocate at all.
const raceAllocSlack float64 = 0
