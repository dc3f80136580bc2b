package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// JSON logs give durations and feed positions as people read them, not
// as nanoseconds and Go struct dumps.
func TestLogs_DurationsAndPositionsAreReadable(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var out bytes.Buffer
		c := common{logFormat: format, logLevel: "info"}
		c.logger(&environment{stderr: &out}).Info("change feed started", "retry_in", 2*time.Second, "dur", 47484340*time.Nanosecond, "position", domain.ChangePos{Xmax: 5002, Pending: []uint64{4990}, Seq: 5001, ID: 7})
		line := out.String()
		for _, want := range []string{"2s", "47.48434ms", "5002-[4990]@5001:7"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s log %q lacks %q", format, line, want)
			}
		}
		if strings.Contains(line, "Seq") || strings.Contains(line, "2000000000") {
			t.Errorf("%s log %q holds a raw value", format, line)
		}
	}
}
