package load

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteSummary writes the result as a table for people.
func (r *Result) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	ms := func(p Percentiles) string {
		if p.Count == 0 {
			return "–"
		}
		return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (max %.1f, n=%d)", p.P50, p.P99, p.Max, p.Count)
	}
	mb := func(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }
	row("ticketstream load", fmt.Sprintf("%s, %d sockets, %d REST fetchers, %.1fs", r.Target, r.Sockets, r.Fetchers, r.Duration.Seconds()))
	row("", "")
	if r.Sockets > 0 {
		s := r.Snapshots
		row("WebSocket snapshots", fmt.Sprintf("%d complete, %d rows, %s", s.Complete, s.Rows, mb(float64(s.Bytes))))
		row("  throughput", fmt.Sprintf("%.0f rows/s, %.1f MB/s (until the last snapshot ended)", s.RowsPerSecond, s.MBPerSecond))
		row("  time to first chunk", ms(s.FirstChunk))
		row("  time to complete", ms(s.Completion))
		w := r.WebSocket
		ratio := "–"
		if w.MessageBytes > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*float64(w.WireReceived)/float64(w.MessageBytes))
		}
		offered := "not offered"
		if w.CompressionOffered {
			offered = fmt.Sprintf("negotiated on %d of %d dials", w.Compressed, w.Dials)
		}
		row("  on the wire", fmt.Sprintf("%s received for %s of messages (%s), %s sent; compression %s",
			mb(float64(w.WireReceived)), mb(float64(w.MessageBytes)), ratio, mb(float64(w.WireSent)), offered))
	}
	if r.Fetchers > 0 {
		s := r.REST
		row("REST fetches", fmt.Sprintf("%d, %d rows, %s", s.Fetches, s.Rows, mb(float64(s.Bytes))))
		coding := "not compressed"
		if s.Encoding != "" {
			coding = s.Encoding
		}
		row("  on the wire", fmt.Sprintf("%s received for %s of JSON (%s)", mb(float64(s.WireReceived)), mb(float64(s.Bytes)), coding))
		row("  throughput", fmt.Sprintf("%.0f rows/s, %.1f MB/s", s.RowsPerSecond, s.MBPerSecond))
		row("  time to first byte", ms(s.FirstChunk))
		row("  time to complete", ms(s.Completion))
	}
	c := r.Changes
	row("Changes received", fmt.Sprintf("%d (%d written by this run)", c.Received, c.Written))
	row("  latency (updated_at → received)", ms(c.Latency))
	if len(r.Errors) == 0 {
		row("Errors", "none")
	} else {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for i, k := range kinds {
			label := ""
			if i == 0 {
				label = "Errors"
			}
			row(label, fmt.Sprintf("%d × %s", r.Errors[k], k))
		}
	}
	if r.Server.MetricsError != "" && r.Server.RSSPeak == 0 {
		row("Server memory", "unknown: "+r.Server.MetricsError)
	} else {
		row("Server memory", fmt.Sprintf("RSS peak %s, at the end %s; heap in use peak %s; sockets peak %.0f",
			mb(r.Server.RSSPeak), mb(r.Server.RSSEnd), mb(r.Server.HeapPeak), r.Server.Connections))
	}
	return tw.Flush()
}
