package app

import "time"

const (
	// warmFor is how long after a change the feed is read more often:
	// changes come in runs (a queue being worked, a conversation), and an
	// idle server returns to the plain interval soon.
	warmFor = time.Second
	// busyRate is the rate of changes, per second, from which writers count
	// as busy (see readPace): from there, read every busyPace, a read finds
	// twenty changes or more on average.
	busyRate = 1000
	// busyWindow is the least time over which the rate is judged: busyRate
	// times it, 100 changes, is what one statement must change to pass
	// for a flood, and changes arriving at random at 600 a second almost never
	// fill it, while over 10 ms 10 such changes often would, and the pace
	// would flip read by read well below busyRate.
	busyWindow = 100 * time.Millisecond
	// busyPace is how often, at most, the feed is read while writers are
	// busy: 50 reads a second. On a database they keep busy each read costs
	// the writers about the same, whatever it finds: a round trip that
	// wakes a server process among theirs (BenchmarkWriterCommits in
	// adapters/gormstore, feed-on against feed-on-busy-10ms).
	busyPace = 20 * time.Millisecond
)

// readPace says when the feed is read next. Its zero value with interval
// (and busy, for tests: busyPace if zero) set starts idle.
//
// The wait runs from a read's start: a read that handed many changes over
// must not add a whole interval of its own, or changes made meanwhile
// become visible together and are merged.
//   - A read that found changes is followed after a tenth of the interval
//     by the next, which finds the rest of a burst.
//   - While changes keep coming (one within warmFor) an empty read is
//     followed after a quarter of the interval, which cuts the wait for the
//     next read — the floor of live latency — by as much.
//   - An idle feed waits the whole interval, and costs what it did.
//   - While writers are busy — changes came at busyRate a second or more,
//     over the reads of the last busyWindow or more — a read is followed
//     after busyPace instead, or twice the interval if that is shorter (a
//     short interval, chosen for latency, bounds the wait still), or a
//     tenth of the interval if that is longer: at most 50 reads a second
//     from an interval of 10 ms up, the default. A read of a change or two
//     costs the database, and the server, about what an empty one does
//     (BenchmarkFeedRead in adapters/gormstore): at the fast pace, from a
//     thousand changes a second, the feed is read for every change or two,
//     several hundred times a second, as often as the round trips allow,
//     and takes CPU from the writers on a database that they keep busy (at
//     a threshold of 5,000, writers on a slower machine that never reached
//     it paid that). Their changes wait up to busyPace instead of a
//     millisecond, the price; from about 800 a second, changes arriving at
//     random fill some windows, each of which puts the next at the busy
//     pace. The rate
//     is judged over a window of time, not one read, so it does not depend
//     on the pace it is read at — except that a read returns each ticket
//     once, so it counts tickets changed, and a few tickets changed very
//     often count for less the less often the feed is read.
type readPace struct {
	interval, busy time.Duration
	lastChange     time.Time
	windowStart    time.Time // of the reads whose changes are being counted
	windowFound    uint64
	busyNow        bool
}

// next returns how long after start the next read starts, for a read that
// began at start and found found changes, made since the previous read
// began.
func (p *readPace) next(start time.Time, found uint64) time.Duration {
	p.windowFound += found
	if elapsed := start.Sub(p.windowStart); elapsed >= busyWindow {
		p.busyNow = float64(p.windowFound) >= busyRate*elapsed.Seconds()
		p.windowStart, p.windowFound = start, 0
	}
	if found == 0 {
		if start.Sub(p.lastChange) < warmFor {
			return p.interval / 4
		}
		return p.interval
	}
	p.lastChange = start
	if p.busyNow {
		busy := p.busy
		if busy == 0 {
			busy = busyPace
		}
		return max(p.interval/10, min(2*p.interval, busy))
	}
	return p.interval / 10
}
