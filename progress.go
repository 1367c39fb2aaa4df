package main

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3client"
)

// newProgress is a progress bar per phase on a terminal, a short log line
// every few seconds elsewhere (cron, CI, a pipe).
func newProgress(stderr io.Writer, log *slog.Logger, traffic *s3client.Traffic) job.Progress {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return barProgress{out: stderr, traffic: traffic}
	}
	return job.LogProgress(log, 5*time.Second, traffic)
}

// barProgress draws a progress bar per phase on the terminal.
type barProgress struct {
	out     io.Writer
	traffic *s3client.Traffic // request rate and throttling, shown alongside
}

func (p barProgress) Start(phase, unit string, total, totalBytes int64) job.Meter {
	max := total
	if max == 0 {
		max = -1 // spinner
	}
	return &barMeter{Counter: job.NewCounter(phase, unit, total, totalBytes, p.traffic), bar: progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	)}
}

// barMeter is one phase's bar; its label says bytes, failures and the
// request rate, refreshed at most four times a second.
type barMeter struct {
	*job.Counter
	bar      *progressbar.ProgressBar
	mu       sync.Mutex
	lastDesc time.Time
}

func (m *barMeter) Done(n int, bytes int64, failed bool) {
	m.Counter.Done(n, bytes, failed)
	_ = m.bar.Add(n)
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.lastDesc) > 250*time.Millisecond {
		m.lastDesc = time.Now()
		m.bar.Describe(m.Label())
	}
}

func (m *barMeter) Finish() { _ = m.bar.Finish() }
