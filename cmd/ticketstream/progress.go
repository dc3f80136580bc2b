package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// progress draws a bar on a terminal (redrawn at most every 100ms) and
// prints a line per 10% elsewhere (logs, CI).
type progress struct {
	env       *environment
	label     string
	total     int
	done      int
	start     time.Time
	lastDraw  time.Time
	lastTenth int
}

func newProgress(env *environment, label string, total int) *progress {
	return &progress{env: env, label: label, total: total, start: time.Now()}
}

func (p *progress) add(n int) {
	p.done += n
	now := time.Now()
	if p.env.stderrIsTTY {
		if now.Sub(p.lastDraw) >= 100*time.Millisecond || p.done == p.total {
			p.lastDraw = now
			fmt.Fprintf(p.env.stderr, "\r%s", p.line(now))
		}
		return
	}
	if tenth := p.done * 10 / p.total; tenth > p.lastTenth {
		p.lastTenth = tenth
		fmt.Fprintln(p.env.stderr, p.line(now))
	}
}

func (p *progress) line(now time.Time) string {
	const width = 30
	filled := p.done * width / p.total
	rate := float64(p.done) / max(now.Sub(p.start).Seconds(), 1e-9)
	eta := ""
	if rate > 0 && p.done < p.total {
		eta = "  ETA " + elapsed(time.Duration(float64(p.total-p.done)/rate*float64(time.Second)))
	}
	return fmt.Sprintf("%s [%s%s] %3d%%  %s/%s  %s/s%s   ", p.label, strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		p.done*100/p.total, thousands(p.done), thousands(p.total), thousands(int(rate)), eta)
}

// finish ends the bar and returns the time taken and the rate.
func (p *progress) finish() (time.Duration, float64) {
	took := time.Since(p.start)
	if p.env.stderrIsTTY {
		fmt.Fprintln(p.env.stderr)
	}
	return took, float64(p.done) / max(took.Seconds(), 1e-9)
}

// abort ends the bar's line so that an error starts on a fresh one.
func (p *progress) abort() {
	if p.env.stderrIsTTY {
		fmt.Fprintln(p.env.stderr)
	}
}

// thousands formats n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
