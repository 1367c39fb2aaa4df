package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/s3backfill/s3backfill/executor"
)

// progressFactory makes a meter per phase: a progress bar on a terminal,
// a short log line every few seconds elsewhere (cron, CI, a pipe).
type progressFactory struct {
	tty      bool
	out      io.Writer // the terminal (stderr)
	log      *slog.Logger
	interval time.Duration // between log lines when not on a terminal
	traffic  *traffic      // request rate and throttling, shown alongside
}

// meter counts one phase's work.
type meter struct {
	phase, unit  string
	total, bytes int64 // totals; 0 = unknown
	start        time.Time

	done, doneBytes, failed atomic.Int64

	bar      *progressbar.ProgressBar
	log      *slog.Logger
	traffic  *traffic
	stop     chan struct{}
	finished sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	lastDesc time.Time
}

var _ executor.Progress = (*meter)(nil)

// counter meters work whose total is not known in advance (a listing).
func (f progressFactory) counter(phase, unit string) *meter { return f.bar(phase, unit, 0, 0) }

// bar meters total items (and totalBytes bytes, if known).
func (f progressFactory) bar(phase, unit string, total, totalBytes int64) *meter {
	m := &meter{phase: phase, unit: unit, total: total, bytes: totalBytes, start: time.Now(), log: f.log,
		traffic: f.traffic, stop: make(chan struct{})}
	if f.tty {
		max := total
		if max == 0 {
			max = -1 // spinner
		}
		m.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(f.out),
			progressbar.OptionSetDescription(phase),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		)
		return m
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(f.interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.log.Info(m.line())
			}
		}
	}()
	return m
}

// Done implements executor.Progress.
func (m *meter) Done(objects int, bytes int64, failed bool) {
	if failed {
		m.failed.Add(int64(objects))
	}
	m.add(objects, bytes)
}

func (m *meter) add(n int, bytes int64) {
	m.done.Add(int64(n))
	m.doneBytes.Add(bytes)
	if m.bar == nil {
		return
	}
	_ = m.bar.Add(n)
	if m.bytes > 0 || m.failed.Load() > 0 || m.traffic != nil {
		m.mu.Lock()
		if time.Since(m.lastDesc) > 250*time.Millisecond {
			m.lastDesc = time.Now()
			m.bar.Describe(m.describe())
		}
		m.mu.Unlock()
	}
}

// describe is the bar's label: phase, bytes, failures.
func (m *meter) describe() string {
	s := m.phase
	if m.bytes > 0 {
		s += fmt.Sprintf(" %s/%s", formatSize(m.doneBytes.Load()), formatSize(m.bytes))
	}
	if f := m.failed.Load(); f > 0 {
		s += fmt.Sprintf(" (%d failed)", f)
	}
	return s + m.trafficNote()
}

// trafficNote is the request rate, and the throttled answers if any.
func (m *meter) trafficNote() string {
	if m.traffic == nil {
		return ""
	}
	s := fmt.Sprintf(" [%.0f req/s", m.traffic.rate())
	if _, th := m.traffic.stats(); th > 0 {
		s += fmt.Sprintf(", %d throttled", th)
	}
	return s + "]"
}

// line is the log line of a non-terminal run.
func (m *meter) line() string {
	done, el := m.done.Load(), time.Since(m.start)
	s := fmt.Sprintf("%s: %d", m.phase, done)
	if m.total > 0 {
		s += fmt.Sprintf("/%d", m.total)
	}
	s += " " + m.unit
	if m.bytes > 0 {
		s += fmt.Sprintf(", %s/%s", formatSize(m.doneBytes.Load()), formatSize(m.bytes))
	}
	rate := float64(done) / el.Seconds()
	s += fmt.Sprintf(", %.0f/s", rate)
	if m.bytes > 0 && el > time.Second {
		s += fmt.Sprintf(", %s/s", formatSize(int64(float64(m.doneBytes.Load())/el.Seconds())))
	}
	if m.total > 0 && done > 0 && done < m.total {
		eta := time.Duration(float64(m.total-done) / rate * float64(time.Second))
		s += ", ETA " + describeDuration(eta)
	}
	if f := m.failed.Load(); f > 0 {
		s += fmt.Sprintf(", %d failed", f)
	}
	return s + m.trafficNote()
}

// finish ends the display; a non-terminal run gets a last line.
func (m *meter) finish() {
	m.finished.Do(func() {
		if m.bar != nil {
			_ = m.bar.Finish()
			return
		}
		close(m.stop)
		m.wg.Wait()
		if m.done.Load() > 0 {
			m.log.Info(m.line() + " (done in " + describeDuration(time.Since(m.start)) + ")")
		}
	})
}
