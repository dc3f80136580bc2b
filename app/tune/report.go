package tune

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
)

// section is one part of the report, rendered as text or Markdown.
type section struct {
	title string
	paras []string
	table [][]string // first row: header
	after []string
}

// Format is how a report is written.
type Format string

// The formats of a report.
const (
	Text     Format = "text"
	Markdown Format = "markdown"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Text, Markdown:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q (want text or markdown)", s)
}

// Write writes the report in format f; source names where the sample came
// from, for the title.
func (r *Report) Write(w io.Writer, f Format, source string) error {
	secs := r.sections(source)
	if f == Markdown {
		return writeMarkdown(w, secs)
	}
	return writeText(w, secs)
}

func us(ns float64) string {
	if ns >= 100e3 {
		return fmt.Sprintf("%.0fµs", ns/1e3)
	}
	return fmt.Sprintf("%.1fµs", ns/1e3)
}

func (r *Report) sections(source string) []section {
	d, a, o := r.Sample, r.Advice, r.Options
	cur := r.Current
	flags := fmt.Sprintf("--initial-capacity %d --chunk-threshold %d", a.InitialCapacity, a.ChunkThreshold)
	verdict := "Keep the configuration in effect."
	if a.InitialCapacity != cur.InitialCapacity || a.ChunkThreshold != cur.ChunkThreshold {
		verdict = "Change to `" + flags + "`."
	}
	secs := []section{{
		title: "Buffer pool tuning: " + source,
		paras: []string{
			fmt.Sprintf("**In effect**: %s initial capacity, %s chunk threshold, %d-row batches.", kb(cur.InitialCapacity), kb(cur.ChunkThreshold), cur.BatchSize),
			fmt.Sprintf("**Recommendation**: %s initial capacity, %s chunk threshold. %s", kb(a.InitialCapacity), kb(a.ChunkThreshold), verdict),
			fmt.Sprintf("**Data**: %d tickets, %.0f B of JSON per row on average (the analysis's data: 393 B).", d.Rows, d.Mean),
		},
	}}
	secs = append(secs, section{
		title: "1. Row sizes",
		paras: []string{"JSON bytes per ticket, as ticketstream encodes it:"},
		table: [][]string{{"Rows", "Mean", "Min", "p50", "p90", "p99", "p99.9", "Max"},
			{fmt.Sprint(d.Rows), fmt.Sprintf("%.0f B", d.Mean), fmt.Sprintf("%d B", d.Min), fmt.Sprintf("%d B", d.P50), fmt.Sprintf("%d B", d.P90),
				fmt.Sprintf("%d B", d.P99), fmt.Sprintf("%d B", d.P999), fmt.Sprintf("%d B", d.Max)}},
	})
	sizes := [][]string{{"Rows", "JSON Size", "Per Row"}}
	for _, s := range r.Sizes {
		sizes = append(sizes, []string{fmt.Sprint(s.Rows), bytesKB(s.Bytes), fmt.Sprintf("%.0f B", float64(s.Bytes)/float64(s.Rows))})
	}
	rowsPerChunk := float64(cur.ChunkThreshold) / d.Mean
	secs = append(secs, section{
		title: "2. JSON size",
		table: sizes,
		after: []string{fmt.Sprintf("A %s chunk is handed on after about %.0f rows; a %d-row batch is about %s, %.0f chunks.",
			kb(cur.ChunkThreshold), rowsPerChunk, cur.BatchSize, bytesKB(int(d.Mean*float64(cur.BatchSize))), d.Mean*float64(cur.BatchSize)/float64(cur.ChunkThreshold))},
	})
	sweep := [][]string{{"Buffer Size", "With Pool", "Without Pool", "Pool Benefit", "Reallocations without pool"}}
	for _, s := range r.Sweep {
		name := fmt.Sprintf("%dKB", s.CapacityKB)
		var marks []string
		if s.Current {
			marks = append(marks, "in effect")
		}
		if s.Chose {
			marks = append(marks, "recommended")
		}
		if len(marks) > 0 {
			name = "**" + name + "** (" + strings.Join(marks, ", ") + ")"
		}
		sweep = append(sweep, []string{name,
			us(s.Pool.NsPerOp) + ", " + bytesKB(int(s.Pool.BytesPerOp)),
			us(s.NoPool.NsPerOp) + ", " + bytesKB(int(s.NoPool.BytesPerOp)),
			benefit(s.Pool, s.NoPool),
			fmt.Sprintf("%.1f per stream", s.NoPool.GrownPerOp)})
	}
	secs = append(secs, section{
		title: fmt.Sprintf("3.1 Pool vs no pool (%d rows)", o.SweepRows),
		paras: []string{fmt.Sprintf("Time and memory allocated per stream of %d rows, %s chunk threshold.", o.SweepRows, kb(cur.ChunkThreshold))},
		table: sweep,
	})
	rows := [][]string{{"Rows", "Time/op", "Memory/op", "Allocs/op"}}
	for _, x := range r.Rows {
		rows = append(rows, []string{fmt.Sprint(x.Rows), us(x.NsPerOp), bytesKB(int(x.BytesPerOp)), fmt.Sprintf("%.0f", x.AllocsPerOp)})
	}
	secs = append(secs, section{
		title: fmt.Sprintf("3.2 Different row counts (%s buffers, %s chunks)", kb(a.InitialCapacity), kb(a.ChunkThreshold)),
		table: rows,
	})
	par := [][]string{{"Config", "Time/op", "Memory/op", "Allocs/op"}}
	for _, p := range r.Parallel {
		par = append(par, []string{fmt.Sprintf("%dKB (%s)", p.CapacityKB, p.Label), us(p.NsPerOp), bytesKB(int(p.BytesPerOp)), fmt.Sprintf("%.0f", p.AllocsPerOp)})
	}
	secs = append(secs, section{
		title: fmt.Sprintf("3.3 Concurrent performance (%d rows from %d cores at once)", o.SweepRows, r.Cores),
		table: par,
	})
	secs = append(secs, section{
		title: "4. Recommendation",
		paras: append([]string{"`ticketstream serve " + flags + "`"}, a.Reasons...),
	})
	alt := [][]string{{"Scenario", "Initial capacity", "Rationale"}}
	for _, x := range a.Alternatives {
		alt = append(alt, []string{x.Scenario, x.Capacity, x.Rationale})
	}
	secs = append(secs, section{
		title: "5. Alternative configurations (if requirements change)",
		table: alt,
		after: []string{"Re-run `ticketstream tune` when the average row size changes, when the chunk threshold or batch size change, or when concurrency or memory become a concern; `/metrics` shows the row size (`ticketstream_stream_row_bytes`), the pool's hit rate and reallocations as they happen."},
	})
	secs = append(secs, section{
		title: "Measured",
		paras: []string{fmt.Sprintf("%s with %s on %s/%s, %d cores; %s per configuration; %s in all. Times are of this machine and vary with its load: compare rows of one report, not reports of different machines.",
			r.Started.UTC().Format("2006-01-02 15:04 UTC"), runtime.Version(), runtime.GOOS, runtime.GOARCH, r.Cores, o.BenchTime, r.Took.Round(100_000_000))},
	})
	return secs
}

// benefit says how much faster and leaner the pooled stream was.
func benefit(pool, noPool Measurement) string {
	less := 0.0
	if noPool.BytesPerOp > 0 {
		less = 100 * (1 - pool.BytesPerOp/noPool.BytesPerOp)
	}
	return fmt.Sprintf("%.1f× as fast, %.0f%% less memory", noPool.NsPerOp/pool.NsPerOp, less)
}

func writeMarkdown(w io.Writer, secs []section) error {
	var b strings.Builder
	for i, s := range secs {
		level := "## "
		if i == 0 {
			level = "# "
		}
		b.WriteString(level + s.title + "\n\n")
		for _, p := range s.paras {
			b.WriteString(p + "\n\n")
		}
		if len(s.table) > 0 {
			for j, row := range s.table {
				b.WriteString("| " + strings.Join(row, " | ") + " |\n")
				if j == 0 {
					b.WriteString("|" + strings.Repeat("---|", len(row)) + "\n")
				}
			}
			b.WriteString("\n")
		}
		for _, p := range s.after {
			b.WriteString(p + "\n\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeText(w io.Writer, secs []section) error {
	plain := strings.NewReplacer("**", "", "`", "")
	var b strings.Builder
	for i, s := range secs {
		title := plain.Replace(s.title)
		rule := "-"
		if i == 0 {
			rule = "="
		}
		b.WriteString(title + "\n" + strings.Repeat(rule, len([]rune(title))) + "\n")
		for _, p := range s.paras {
			b.WriteString(wrap(plain.Replace(p), 100) + "\n")
		}
		if len(s.table) > 0 {
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			for _, row := range s.table {
				cells := make([]string, len(row))
				for k, c := range row {
					cells[k] = plain.Replace(c)
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		for _, p := range s.after {
			b.WriteString(wrap(plain.Replace(p), 100) + "\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) string {
	var out strings.Builder
	line := 0
	for i, word := range strings.Fields(s) {
		n := len([]rune(word))
		if i > 0 {
			if line+1+n > width {
				out.WriteString("\n")
				line = 0
			} else {
				out.WriteString(" ")
				line++
			}
		}
		out.WriteString(word)
		line += n
	}
	return out.String()
}
