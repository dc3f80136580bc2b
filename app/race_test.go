//go:build race

package app

// raceAllocSlack allows for sync.Pool dropping a quarter of Puts under -race:
// a dropped buffer is reallocated (2 allocations: the struct and its bytes)
// for some of the stream's 13 chunks.
const raceAllocSlack float64 = 40
