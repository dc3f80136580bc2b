package tune

import (
	"fmt"
	"math"
	"slices"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// Distribution is the JSON size of the sample's rows.
type Distribution struct {
	Rows                          int
	Mean                          float64
	Min, P50, P90, P99, P999, Max int
}

func measureSizes(sample []domain.Ticket) (Distribution, error) {
	sizes := make([]int, len(sample))
	buf := make([]byte, 0, 4096)
	total := 0
	for i := range sample {
		var err error
		buf, err = app.AppendTicket(buf[:0], &sample[i])
		if err != nil {
			return Distribution{}, fmt.Errorf("encode ticket %d: %w", sample[i].ID, err)
		}
		sizes[i] = len(buf)
		total += len(buf)
	}
	slices.Sort(sizes)
	q := func(p float64) int { return sizes[min(len(sizes)-1, int(math.Ceil(p*float64(len(sizes))))-1)] }
	return Distribution{
		Rows: len(sizes), Mean: float64(total) / float64(len(sizes)),
		Min: sizes[0], P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: sizes[len(sizes)-1],
	}, nil
}

// Rows per chunk the threshold aims for: the analysis's 32KB held about 82
// rows of 393 B. Fewer means a message's framing, cursor and write are
// paid for few rows; many more means the first rows wait for a full chunk.
const (
	minRowsPerChunk = 32
	maxRowsPerChunk = 512
	minThreshold    = 8 << 10
	maxThreshold    = 256 << 10
)

// Recommendation is the configuration the measurements support, and why.
type Recommendation struct {
	InitialCapacity int // bytes
	ChunkThreshold  int // bytes
	// ExactCapacity is the smallest capacity that never reallocates on
	// this sample: the threshold plus the largest row, rounded up to 1KB.
	ExactCapacity int
	Reasons       []string
	Alternatives  []Alternative
}

// Alternative is one line of the analysis's "if requirements change"
// table, computed for this data.
type Alternative struct {
	Scenario, Capacity, Rationale string
}

// thresholdFor returns the chunk threshold for rows of mean size, starting
// from the current one, and why.
func thresholdFor(current int, mean float64) (int, string) {
	t := current
	per := func(t int) float64 { return float64(t) / mean }
	for per(t) < minRowsPerChunk && t < maxThreshold {
		t *= 2
	}
	for per(t) > maxRowsPerChunk && t > minThreshold {
		t /= 2
	}
	if t == current {
		return t, fmt.Sprintf("Keep the %s chunk threshold: a chunk holds %.0f rows of %.0f B, within the %d–%d rows per message that amortise a message's framing and cursor without holding the first rows back (the analysis: about 82).",
			kb(t), per(t), mean, minRowsPerChunk, maxRowsPerChunk)
	}
	return t, fmt.Sprintf("Change the chunk threshold from %s to %s: at %s a chunk would hold %.0f rows of %.0f B, at %s it holds %.0f, within the %d–%d rows per message that amortise a message's framing and cursor without holding the first rows back.",
		kb(current), kb(t), kb(current), per(current), mean, kb(t), per(t), minRowsPerChunk, maxRowsPerChunk)
}

// capacityFor returns the smallest of capacities (KB) that holds a full
// chunk — threshold plus the largest row and its delimiter — and that
// exact need rounded up to 1KB.
func capacityFor(threshold, maxRow int, capacitiesKB []int) (chosen, exact int) {
	need := threshold + maxRow + 1
	exact = (need + 1023) / 1024 * 1024
	for _, c := range capacitiesKB {
		if c*1024 >= need {
			return c * 1024, exact
		}
	}
	return exact, exact
}

// recommend applies the rules to the sample's sizes; confirm then checks
// them against the sweep.
func recommend(d Distribution, opts Options) Recommendation {
	var r Recommendation
	var why string
	r.ChunkThreshold, why = thresholdFor(opts.Current.ChunkThreshold, d.Mean)
	r.Reasons = append(r.Reasons, why)
	r.InitialCapacity, r.ExactCapacity = capacityFor(r.ChunkThreshold, d.Max, opts.CapacitiesKB)
	r.Reasons = append(r.Reasons, fmt.Sprintf(
		"Initial capacity %s: a chunk is handed on as soon as it passes %s, so a buffer holds at most the threshold plus one row — %s + %d B (the largest row of %d) = %s. %s is the smallest capacity of the sweep that holds it, so a buffer never grows while a chunk is encoded; each smaller one reallocates whenever the pool has to make a buffer.",
		kb(r.InitialCapacity), kb(r.ChunkThreshold), kb(r.ChunkThreshold), d.Max, d.Rows, bytesKB(r.ChunkThreshold+d.Max+1), kb(r.InitialCapacity)))
	r.Alternatives = alternatives(d, r, opts)
	return r
}

// confirm adds what the sweep showed about the recommendation.
func (r *Recommendation) confirm(rep *Report) {
	var chosen *SweepRow
	bestPool := math.Inf(1)
	for i := range rep.Sweep {
		s := &rep.Sweep[i]
		bestPool = min(bestPool, s.Pool.NsPerOp)
		if s.Chose {
			chosen = s
		}
	}
	var grew []string
	for _, s := range rep.Sweep {
		if s.NoPool.GrownPerOp > 0 {
			grew = append(grew, fmt.Sprintf("%dKB %.1f", s.CapacityKB, s.NoPool.GrownPerOp))
		}
	}
	if len(grew) > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("Measured: without the pool — what every pool miss costs — buffers reallocated per %d-row stream at %s.", rep.Options.SweepRows, joinList(grew)))
	}
	if chosen == nil {
		return
	}
	if chosen.NoPool.GrownPerOp == 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("Measured: at %dKB no buffer reallocated, with or without the pool.", chosen.CapacityKB))
	}
	for _, s := range rep.Sweep {
		if s.CapacityKB > chosen.CapacityKB && s.NoPool.BytesPerOp > chosen.NoPool.BytesPerOp {
			r.Reasons = append(r.Reasons, fmt.Sprintf("Measured: larger capacities only cost memory — %dKB allocates %s per stream without the pool against %s at %dKB — and with the pool all capacities run alike (%.0f–%.0f µs per %d rows), as the analysis found.",
				s.CapacityKB, bytesKB(int(s.NoPool.BytesPerOp)), bytesKB(int(chosen.NoPool.BytesPerOp)), chosen.CapacityKB, bestPool/1e3, maxPool(rep.Sweep)/1e3, rep.Options.SweepRows))
			break
		}
	}
	if chosen.Pool.NsPerOp > bestPool*1.10 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("Note: in this run the pooled %dKB stream took %.0f µs, %.0f%% more than the fastest capacity; pooled times do not depend on the capacity once buffers are reused, so a gap like this is the machine's noise — run again with a longer --benchtime to check.",
			chosen.CapacityKB, chosen.Pool.NsPerOp/1e3, 100*(chosen.Pool.NsPerOp/bestPool-1)))
	}
}

func maxPool(s []SweepRow) float64 {
	m := 0.0
	for _, r := range s {
		m = max(m, r.Pool.NsPerOp)
	}
	return m
}

// alternatives computes the analysis's "alternative configurations" table
// for this data: what the same rules give when the data or the threshold
// change.
func alternatives(d Distribution, r Recommendation, opts Options) []Alternative {
	caps := opts.CapacitiesKB
	row := func(scenario string, threshold, maxRow int, why string) Alternative {
		c, exact := capacityFor(threshold, maxRow, caps)
		return Alternative{Scenario: scenario, Capacity: kb(c), Rationale: fmt.Sprintf("%s + largest row %d B = %s needed (%s exactly)", kb(threshold), maxRow, bytesKB(threshold+maxRow+1), kb(exact)) + why}
	}
	half, double := d.Mean/2, d.Mean*2
	tHalf, _ := thresholdFor(r.ChunkThreshold, half)
	tDouble, _ := thresholdFor(r.ChunkThreshold, double)
	return []Alternative{
		row(fmt.Sprintf("Smaller rows (about %.0f B)", half), tHalf, d.Max/2, thresholdNote(tHalf, r.ChunkThreshold)),
		row(fmt.Sprintf("Larger rows (about %.0f B)", double), tDouble, d.Max*2, thresholdNote(tDouble, r.ChunkThreshold)),
		row("Lower chunk threshold (16KB)", 16<<10, d.Max, fmt.Sprintf("; %.0f rows per chunk", float64(16<<10)/d.Mean)),
		row("Higher chunk threshold (64KB)", 64<<10, d.Max, fmt.Sprintf("; %.0f rows per chunk", float64(64<<10)/d.Mean)),
		{Scenario: "Very high concurrency", Capacity: kb(r.ExactCapacity), Rationale: fmt.Sprintf(
			"every socket may hold %d queued chunks plus one being filled: at the exact need, %s instead of %s per buffer saves %s per 1,000 busy sockets",
			queuedChunks, kb(r.ExactCapacity), kb(r.InitialCapacity), bytesKB((r.InitialCapacity-r.ExactCapacity)*(queuedChunks+1)*1000))},
	}
}

// queuedChunks is the WebSocket gateway's default queue per socket.
const queuedChunks = 16

func thresholdNote(t, current int) string {
	if t == current {
		return ""
	}
	return fmt.Sprintf("; with the chunk threshold at %s", kb(t))
}

func kb(b int) string {
	if b%1024 == 0 {
		return fmt.Sprintf("%dKB", b/1024)
	}
	return fmt.Sprintf("%.1fKB", float64(b)/1024)
}

func bytesKB(b int) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%.0fMB", float64(b)/(1<<20))
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(b)/(1<<20))
	case b >= 1024:
		return fmt.Sprintf("%.1fKB", float64(b)/1024)
	}
	return fmt.Sprintf("%dB", b)
}

func joinList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " and "
		default:
			out += ", "
		}
		out += x
	}
	return out
}
