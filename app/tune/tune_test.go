package tune_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/tune"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// quick keeps the sweep short: the tests check what is measured and
// concluded, not how fast.
func quick(cur app.Config) tune.Options {
	return tune.Options{Current: cur, BenchTime: 2 * time.Millisecond}
}

func TestRun_OnDataLikeTheAnalysisLandsOnItsFigures(t *testing.T) {
	sample := demodata.New(1).Tickets(2000)
	var steps []string
	opts := quick(app.Config{})
	opts.Progress = func(done, total int, what string) { steps = append(steps, what) }
	r, err := tune.Run(context.Background(), sample, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sample.Rows != 2000 || r.Sample.Mean < 370 || r.Sample.Mean > 415 || r.Sample.Max < r.Sample.P99 || r.Sample.P99 < r.Sample.P50 {
		t.Fatalf("row sizes %+v, want about 393 B like the analysis's data", r.Sample)
	}
	if r.Advice.InitialCapacity != 50<<10 || r.Advice.ChunkThreshold != 32<<10 {
		t.Fatalf("recommends %d / %d, want the analysis's 50KB / 32KB on its kind of data", r.Advice.InitialCapacity, r.Advice.ChunkThreshold)
	}
	if len(r.Sweep) != 9 || len(r.Rows) != 4 || len(r.Parallel) != 2 || len(r.Sizes) != 6 {
		t.Fatalf("tables: %d sweep, %d rows, %d parallel, %d sizes", len(r.Sweep), len(r.Rows), len(r.Parallel), len(r.Sizes))
	}
	for _, s := range r.Sweep {
		grows := s.CapacityKB*1024 < 32<<10+r.Sample.Max+1
		if (s.NoPool.GrownPerOp > 0) != grows || s.Pool.Ops == 0 || s.NoPool.Ops == 0 {
			t.Errorf("%dKB without pool: %.1f reallocations per stream (%d ops), want some exactly when it cannot hold a chunk", s.CapacityKB, s.NoPool.GrownPerOp, s.NoPool.Ops)
		}
		if s.Chose != (s.CapacityKB == 50) || s.Current != (s.CapacityKB == 50) {
			t.Errorf("%dKB marked chosen %v current %v", s.CapacityKB, s.Chose, s.Current)
		}
	}
	if len(steps) != 9*2+4+2+1 || steps[len(steps)-1] != "done" {
		t.Fatalf("progress told %d steps: %q", len(steps), steps)
	}

	var md, text bytes.Buffer
	if err := r.Write(&md, tune.Markdown, "demo"); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(&text, tune.Text, "demo"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Buffer pool tuning: demo", "## 3.1 Pool vs no pool (100 rows)", "| Buffer Size | With Pool | Without Pool | Pool Benefit |",
		"| **50KB** (in effect, recommended) |", "## 4. Recommendation", "`ticketstream serve --initial-capacity 51200 --chunk-threshold 32768`",
		"## 5. Alternative configurations", "| Lower chunk threshold (16KB) | 32KB |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown report lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"Recommendation: 50KB initial capacity, 32KB chunk threshold. Keep the configuration in effect.", "3.2 Different row counts", "ticketstream serve --initial-capacity 51200"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
	if strings.Contains(text.String(), "**") || strings.Contains(text.String(), "`") {
		t.Error("the text report has Markdown marks")
	}
}

func TestRun_RecommendsBiggerChunksAndBuffersForLargeRows(t *testing.T) {
	sample := demodata.New(2).Tickets(300)
	for i := range sample {
		sample[i].Subject = strings.Repeat("The export of the quarterly report fails. ", 70)[:domain.MaxSubjectLen]
		sample[i].Tags = []string{"a-rather-long-tag-" + strings.Repeat("x", 40), "another-long-tag-" + strings.Repeat("y", 40)}
	}
	r, err := tune.Run(context.Background(), sample, quick(app.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	rowsPerChunk := float64(r.Advice.ChunkThreshold) / r.Sample.Mean
	if r.Advice.ChunkThreshold <= 32<<10 || rowsPerChunk < 32 {
		t.Fatalf("rows of %.0f B: threshold %d (%.0f rows per chunk), want it raised to hold 32 or more", r.Sample.Mean, r.Advice.ChunkThreshold, rowsPerChunk)
	}
	if r.Advice.InitialCapacity < r.Advice.ChunkThreshold+r.Sample.Max+1 {
		t.Fatalf("capacity %d cannot hold a chunk of %d plus a row of %d", r.Advice.InitialCapacity, r.Advice.ChunkThreshold, r.Sample.Max)
	}
	if !strings.Contains(strings.Join(r.Advice.Reasons, " "), "Change the chunk threshold from 32KB") {
		t.Fatalf("reasons %q do not say why the threshold changes", r.Advice.Reasons)
	}
}

func TestRun_Refusals(t *testing.T) {
	if _, err := tune.Run(context.Background(), nil, quick(app.Config{})); !errors.Is(err, tune.ErrNoTickets) {
		t.Fatalf("empty sample: %v", err)
	}
	if _, err := tune.Run(context.Background(), demodata.New(1).Tickets(5), quick(app.Config{ChunkThreshold: -1})); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("negative threshold: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tune.Run(ctx, demodata.New(1).Tickets(5), quick(app.Config{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := tune.ParseFormat("html"); err == nil {
		t.Fatal("format html accepted")
	}
}
