package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// BenchmarkStreamMetricsOverhead streams the same 1000 tickets through two
// Streamers, one reporting to Metrics and one not, alternating which goes
// first in each iteration so that neither is favoured by the machine's
// drift, and reports the time of each and the overhead in percent.
//
//	go test -run '^$' -bench MetricsOverhead -benchtime 2000x -count 5 ./adapters/metrics
func BenchmarkStreamMetricsOverhead(b *testing.B) {
	src := &portstest.Source{Tickets: demodata.New(1).Tickets(1000)}
	ctx := context.Background()
	off, err := app.NewStreamer(src, app.Config{})
	if err != nil {
		b.Fatal(err)
	}
	on, err := app.NewStreamer(src, app.Config{})
	if err != nil {
		b.Fatal(err)
	}
	on.SetObserver(New(Sources{Streamer: on}))
	stream := func(s *app.Streamer) time.Duration {
		start := time.Now()
		if _, err := s.Stream(ctx, domain.Query{}, ports.Comma, discard); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	stream(off) // warm the source's sort and both pools
	stream(on)
	b.ReportAllocs()
	var tOff, tOn time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			tOff += stream(off)
			tOn += stream(on)
		} else {
			tOn += stream(on)
			tOff += stream(off)
		}
		i++
	}
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(i), "ns/stream-off")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(i), "ns/stream-on")
	b.ReportMetric(100*(float64(tOn)/float64(tOff)-1), "overhead-%")
}
