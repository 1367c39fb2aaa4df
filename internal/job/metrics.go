package job

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics in the Prometheus text format, from the standard client library:
// written to --metrics-file (for node_exporter's textfile collector:
// written aside and renamed) at the end of each run and every
// metricsInterval during it, and served on --metrics-listen's /metrics
// while the run goes on. Every figure is read from the job when the
// metrics are gathered.

// metricsInterval is how often --metrics-file is rewritten during a run.
const metricsInterval = 30 * time.Second

// jobMetrics gathers a job's figures for Prometheus.
type jobMetrics struct {
	j        *Job
	reg      *prometheus.Registry
	mu       sync.Mutex
	ended    time.Time
	exitCode int
	srv      *http.Server
	stop     chan struct{}
	done     <-chan struct{}
}

var (
	descVersions  = prometheus.NewDesc("s3backfill_versions", "Versions (and delete markers) by destination, status and source encryption.", []string{"dest", "status", "encryption"}, nil)
	descBytes     = prometheus.NewDesc("s3backfill_bytes", "Bytes of the versions by destination and status (succeeded: copied).", []string{"dest", "status"}, nil)
	descRemaining = prometheus.NewDesc("s3backfill_versions_remaining", "Versions left to copy.", nil, nil)
	descRequests  = prometheus.NewDesc("s3backfill_requests_total", "S3 requests this run sent, by operation.", []string{"operation"}, nil)
	descThrottled = prometheus.NewDesc("s3backfill_throttled_requests_total", "S3 requests this run had throttled (503 SlowDown, 429).", nil, nil)
	descStart     = prometheus.NewDesc("s3backfill_run_start_timestamp_seconds", "When this run began.", nil, nil)
	descEnd       = prometheus.NewDesc("s3backfill_run_end_timestamp_seconds", "When this run ended (absent while it runs).", nil, nil)
	descDuration  = prometheus.NewDesc("s3backfill_run_duration_seconds", "How long this run has taken.", nil, nil)
	descExit      = prometheus.NewDesc("s3backfill_run_exit_code", "This run's exit code (absent while it runs).", nil, nil)
)

func (m *jobMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVersions, descBytes, descRemaining, descRequests, descThrottled, descStart, descEnd, descDuration, descExit} {
		ch <- d
	}
}

func (m *jobMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := m.j
	if counts, err := j.Store.Counts(ctx); err == nil {
		bytes := map[[2]string]int64{}
		for _, c := range counts {
			ch <- prometheus.MustNewConstMetric(descVersions, prometheus.GaugeValue, float64(c.Rows), c.Dest, string(c.Status), c.Encryption)
			bytes[[2]string{c.Dest, string(c.Status)}] += c.Bytes
		}
		for k, b := range bytes {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(b), k[0], k[1])
		}
	}
	if left, _, err := j.Store.CountWork(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descRemaining, prometheus.GaugeValue, float64(left))
	}
	if j.Traffic != nil {
		for op, n := range j.Traffic.ByOperation() {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), op)
		}
		_, th := j.Traffic.Stats()
		ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.CounterValue, float64(th))
	}
	m.mu.Lock()
	ended, code := m.ended, m.exitCode
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descStart, prometheus.GaugeValue, float64(j.opened.UnixMilli())/1000)
	end := j.Now()
	if !ended.IsZero() {
		end = ended
		ch <- prometheus.MustNewConstMetric(descEnd, prometheus.GaugeValue, float64(ended.UnixMilli())/1000)
		ch <- prometheus.MustNewConstMetric(descExit, prometheus.GaugeValue, float64(code))
	}
	ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, end.Sub(j.opened).Seconds())
}

// startMetrics serves and writes the job's metrics as the settings ask.
func (j *Job) startMetrics() error {
	s := j.settings
	if s.MetricsFile == "" && s.MetricsListen == "" {
		return nil
	}
	m := &jobMetrics{j: j, reg: prometheus.NewRegistry(), stop: make(chan struct{})}
	m.reg.MustRegister(m)
	if s.MetricsListen != "" {
		ln, err := net.Listen("tcp", s.MetricsListen)
		if err != nil {
			return UsageError{fmt.Errorf("--metrics-listen %s: %w", s.MetricsListen, err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
		m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go m.srv.Serve(ln)
	}
	m.done = every(metricsInterval, m.stop, func() {
		if err := m.write(); err != nil {
			j.Log.Warn("could not write the metrics file", "err", err)
		}
	})
	j.metrics = m
	return nil
}

// write writes --metrics-file, if there is one.
func (m *jobMetrics) write() error {
	if m.j.settings.MetricsFile == "" {
		return nil
	}
	return prometheus.WriteToTextfile(m.j.settings.MetricsFile, m.reg)
}

// end records the run's end and exit code, writes the file a last time
// and stops serving.
func (m *jobMetrics) end(exitCode int) error {
	if m == nil {
		return nil
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	m.ended, m.exitCode = m.j.Now(), exitCode
	m.mu.Unlock()
	err := m.write()
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, m.srv.Shutdown(ctx))
	}
	return err
}
