package app

import "time"

const (
	// warmFor is how long after a change the feed is read more often:
	// changes come in runs (a queue being worked, a conversation), and an
	// idle server returns to the plain interval soon.
	warmFor = time.Second
	// busyRate is the rate of changes, per second, from which writers count
	// as busy (see readPace).
	busyRate = 5000
	// busyMinFound is how many changes a read must find for its rate to
	// count: one change found soon after the last read is no rate.
	busyMinFound = 4
	// busyPace is how often, at most, the feed is read while writers are
	// busy: 100 reads a second.
	busyPace = 10 * time.Millisecond
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
//   - Only an idle feed waits the whole interval, and costs what it did.
//   - While writers are busy — a read found changes at busyRate a second or
//     more since the last read began — it is followed after busyPace
//     instead, or a tenth of the interval if that is longer. A read costs
//     the database about the same whatever it returns, and writers that
//     busy fill every read however often it comes. Read a tenth of the
//     default interval apart, 700 times a second, the feed cost 8 busy
//     writers about a quarter of their commits; read at most 100 times a
//     second, about a seventh, of which its triggers alone take 3 to 11
//     points (BenchmarkWriterCommits, on this machine's 2 cores). Their
//     changes wait up to busyPace instead of a millisecond. The rate, not
//     the changes per read, decides, so the pace does not feed on itself:
//     a steady flow is busy or not whatever the pace it is read at.
type readPace struct {
	interval, busy        time.Duration
	lastStart, lastChange time.Time
}

// next returns how long after start the next read starts, for a read that
// began at start and found found changes.
func (p *readPace) next(start time.Time, found uint64) time.Duration {
	since := start.Sub(p.lastStart)
	p.lastStart = start
	if found == 0 {
		if start.Sub(p.lastChange) < warmFor {
			return p.interval / 4
		}
		return p.interval
	}
	p.lastChange = start
	if found >= busyMinFound && float64(found) >= busyRate*since.Seconds() {
		busy := p.busy
		if busy == 0 {
			busy = busyPace
		}
		return max(p.interval/10, min(p.interval, busy))
	}
	return p.interval / 10
}
