package app

import (
	"fmt"
	"io"
)

// The analysis's published figures (Apple M1 Pro, Go 1.21+), printed beside
// ours. Its machine differs from ours; the same-run ratio is the comparison
// that counts.
var (
	publishedSize = map[int]string{1: "394 B", 10: "3.84 KB", 50: "19.19 KB", 100: "38.38 KB", 500: "191.90 KB", 1000: "383.79 KB"}
	publishedPool = map[int]string{ // KB → with pool / without pool
		1: "95μs, 54KB / 125μs, 208KB", 4: "95μs, 54KB / 123μs, 200KB", 8: "95μs, 54KB / 123μs, 212KB",
		16: "95μs, 54KB / 113μs, 162KB", 32: "95μs, 54KB / 106μs, 136KB", 50: "95μs, 54KB / 102μs, 111KB",
		64: "95μs, 54KB / 103μs, 119KB", 128: "95μs, 54KB / 112μs, 185KB", 256: "95μs, 54KB / 130μs, 316KB",
	}
	publishedRows     = map[int]string{10: "9.5μs, 5.4 KB, 40", 100: "97μs, 54 KB, 400", 500: "486μs, 272 KB, 2000", 1000: "1013μs, 548 KB, 4001"}
	publishedParallel = map[int]string{50: "33.5μs, 54 KB, 400", 32: "40.4μs, 54 KB, 400"}
)

// printBenchTables writes the analysis's tables as measured in this run, if
// the benchmarks ran.
func printBenchTables(w io.Writer) {
	benchMu.Lock()
	defer benchMu.Unlock()
	if len(benchResults) == 0 {
		return
	}
	get := func(name string) (benchResult, bool) { r, ok := benchResults[name]; return r, ok }
	cell := func(r benchResult, ok bool) string {
		if !ok {
			return "–"
		}
		return fmt.Sprintf("%s, %s, %.0f allocs", fmtNs(r.nsPerOp), fmtBytes(r.bytesPerOp), r.allocsPerOp)
	}
	ratio := func(base, ours benchResult, ok1, ok2 bool) string {
		if !ok1 || !ok2 {
			return "–"
		}
		return fmt.Sprintf("**%.1f×**", base.nsPerOp/ours.nsPerOp)
	}

	fmt.Fprintln(w, "\n### §2 JSON size (our encoder; bytes equal json.Marshal's)")
	fmt.Fprintln(w, "| Rows | JSON size | Per row | Encode time | Analysis (published) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, n := range sizeRows {
		if r, ok := get(fmt.Sprintf("BenchmarkJSONSize/rows=%d", n)); ok {
			size := r.extra["json-B"]
			fmt.Fprintf(w, "| %d | %s | %.0f B | %s | %s |\n", n, fmtBytes(size), size/float64(n), fmtNs(r.nsPerOp), publishedSize[n])
		}
	}

	fmt.Fprintln(w, "\n### §3.1 Pool vs no pool, 100 rows (time, memory, allocations per stream)")
	fmt.Fprintln(w, "| Buffer | Analysis method, pool | Ours, pool | Ours vs analysis | Analysis method, no pool | Ours, no pool | Analysis (published) pool / no pool |")
	fmt.Fprintln(w, "|---:|---|---|---:|---|---|---|")
	for _, kb := range capacities {
		p := fmt.Sprintf("BenchmarkPoolVsNoPool/cap=%dKB/", kb)
		ap, okap := get(p + "pool/analysis")
		op, okop := get(p + "pool/ours")
		an, okan := get(p + "nopool/analysis")
		on, okon := get(p + "nopool/ours")
		if !okap && !okop {
			continue
		}
		fmt.Fprintf(w, "| %dKB | %s | %s | %s | %s | %s | %s |\n", kb, cell(ap, okap), cell(op, okop), ratio(ap, op, okap, okop), cell(an, okan), cell(on, okon), publishedPool[kb])
	}

	fmt.Fprintln(w, "\n### §3.2 Row counts, 50KB pooled buffers")
	fmt.Fprintln(w, "| Rows | Analysis method | Ours | ns/row (analysis → ours) | Ours vs analysis | Analysis (published) |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---|")
	for _, n := range streamRows {
		p := fmt.Sprintf("BenchmarkRows/rows=%d/", n)
		a, oka := get(p + "analysis")
		o, oko := get(p + "ours")
		if !oka || !oko {
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s | %.0f → %.0f | %s | %s |\n", n, cell(a, oka), cell(o, oko), a.nsPerOp/float64(n), o.nsPerOp/float64(n), ratio(a, o, oka, oko), publishedRows[n])
	}

	fmt.Fprintln(w, "\n### §3.3 Parallel (RunParallel, 100 rows per stream, per stream)")
	fmt.Fprintln(w, "| Buffer | Analysis method | Ours | Ours vs analysis | Analysis (published) |")
	fmt.Fprintln(w, "|---:|---|---|---:|---|")
	for _, kb := range []int{50, 32} {
		p := fmt.Sprintf("BenchmarkParallel/cap=%dKB/", kb)
		a, oka := get(p + "analysis")
		o, oko := get(p + "ours")
		if oka || oko {
			fmt.Fprintf(w, "| %dKB | %s | %s | %s | %s |\n", kb, cell(a, oka), cell(o, oko), ratio(a, o, oka, oko), publishedParallel[kb])
		}
	}

	fmt.Fprintln(w, "\n### §3.4 Pool overhead (analysis, published: Get/Put 8.37 ns, 0 B)")
	fmt.Fprintln(w, "| Operation | Time/op | Memory/op |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, op := range []struct{ name, label string }{
		{"ours", "our pool: get, lend as chunk, release"},
		{"sync.Pool", "bare sync.Pool Get/Put"},
		{"make-50KB", "fresh 50KB allocation"},
	} {
		if r, ok := get("BenchmarkPoolGetPut/" + op.name); ok {
			fmt.Fprintf(w, "| %s | %s | %s |\n", op.label, fmtNs(r.nsPerOp), fmtBytes(r.bytesPerOp))
		}
	}
	fmt.Fprintln(w)
}

// fmtNs formats nanoseconds as the analysis does: 8.37ns, 95.0μs, 1.01ms.
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fμs", ns/1e3)
	}
	return fmt.Sprintf("%.2fns", ns)
}

// fmtBytes formats a byte count in KB (1024) above 1KB.
func fmtBytes(b float64) string {
	if b >= 1024 {
		return fmt.Sprintf("%.1fKB", b/1024)
	}
	return fmt.Sprintf("%.0fB", b)
}
