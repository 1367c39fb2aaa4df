package job

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts one phase's work and says how far it is, for a progress
// bar's label or a log line. Safe for concurrent use.
type Counter struct {
	phase, unit  string
	total, bytes int64 // totals; 0 = unknown
	traffic      Traffic
	start        time.Time

	done, doneBytes, failed atomic.Int64
}

// NewCounter counts a phase of total items (and totalBytes bytes, if
// known); traffic (may be nil) adds the request rate to what it says.
func NewCounter(phase, unit string, total, totalBytes int64, traffic Traffic) *Counter {
	return &Counter{phase: phase, unit: unit, total: total, bytes: totalBytes, traffic: traffic, start: time.Now()}
}

// Done counts finished items.
func (c *Counter) Done(n int, bytes int64, failed bool) {
	if failed {
		c.failed.Add(int64(n))
	}
	c.done.Add(int64(n))
	c.doneBytes.Add(bytes)
}

// Label is a progress bar's label: phase, bytes, failures, request rate.
func (c *Counter) Label() string {
	s := c.phase
	if c.bytes > 0 {
		s += fmt.Sprintf(" %s/%s", FormatSize(c.doneBytes.Load()), FormatSize(c.bytes))
	}
	if f := c.failed.Load(); f > 0 {
		s += fmt.Sprintf(" (%d failed)", f)
	}
	return s + c.trafficNote()
}

// trafficNote is the request rate, and the throttled answers if any.
func (c *Counter) trafficNote() string {
	if c.traffic == nil {
		return ""
	}
	s := fmt.Sprintf(" [%.0f req/s", c.traffic.Rate())
	if _, th := c.traffic.Stats(); th > 0 {
		s += fmt.Sprintf(", %d throttled", th)
	}
	return s + "]"
}

// Line says how far the phase is, in one log line: counts, rates, ETA.
func (c *Counter) Line() string {
	done, el := c.done.Load(), time.Since(c.start)
	s := fmt.Sprintf("%s: %d", c.phase, done)
	if c.total > 0 {
		s += fmt.Sprintf("/%d", c.total)
	}
	s += " " + c.unit
	if c.bytes > 0 {
		s += fmt.Sprintf(", %s/%s", FormatSize(c.doneBytes.Load()), FormatSize(c.bytes))
	}
	rate := float64(done) / el.Seconds()
	s += fmt.Sprintf(", %.0f/s", rate)
	if c.bytes > 0 && el > time.Second {
		s += fmt.Sprintf(", %s/s", FormatSize(int64(float64(c.doneBytes.Load())/el.Seconds())))
	}
	if c.total > 0 && done > 0 && done < c.total {
		eta := time.Duration(float64(c.total-done) / rate * float64(time.Second))
		s += ", ETA " + DescribeDuration(eta)
	}
	if f := c.failed.Load(); f > 0 {
		s += fmt.Sprintf(", %d failed", f)
	}
	return s + c.trafficNote()
}

// LogProgress is the Progress of a run without a terminal (cron, CI, a
// pipe): a log line per phase every interval, and a last one at its end.
func LogProgress(log *slog.Logger, interval time.Duration, traffic Traffic) Progress {
	return logProgress{log, interval, traffic}
}

type logProgress struct {
	log      *slog.Logger
	interval time.Duration
	traffic  Traffic
}

func (p logProgress) Start(phase, unit string, total, totalBytes int64) Meter {
	m := &logMeter{Counter: NewCounter(phase, unit, total, totalBytes, p.traffic), log: p.log, stop: make(chan struct{})}
	m.ticking = every(p.interval, m.stop, func() { m.log.Info(m.Line()) })
	return m
}

type logMeter struct {
	*Counter
	log      *slog.Logger
	stop     chan struct{}
	ticking  <-chan struct{} // closed when the log lines have stopped
	finished sync.Once
}

func (m *logMeter) Finish() {
	m.finished.Do(func() {
		close(m.stop)
		<-m.ticking
		if m.done.Load() > 0 {
			m.log.Info(m.Line() + " (done in " + DescribeDuration(time.Since(m.start)) + ")")
		}
	})
}

// DescribeDuration prints a duration rounded for people.
func DescribeDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
