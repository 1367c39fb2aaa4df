package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/s3backfill/s3backfill/internal/job"
)

// TestMetrics: while a run goes on its metrics are served on /metrics;
// at its end the metrics file holds the versions by status, the requests
// by operation, and the run's end and exit code, in the Prometheus text
// format.
func TestMetrics(t *testing.T) {
	f := newFake(t)
	put(f, "data/a", "v1", []byte("a"), nil)
	put(f, "data/b", "v1", []byte("bb"), nil)
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{})
	e.scanPlan(t)
	settings, err := e.spec.Parse()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	settings.MetricsFile = filepath.Join(t.TempDir(), "s3backfill.prom")
	settings.MetricsListen = addr
	j, err := job.Open(context.Background(), settings, job.Deps{Source: f.Client(srcClient), Dest: f.Client(dstClient),
		Store: e.db, Log: e.job.Log, Traffic: fixedTraffic{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.BeginRun(context.Background(), "copy"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics not served during the run: %v", err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`s3backfill_versions{dest="dst",encryption="NOT-SSE",status="pending"} 2`,
		"s3backfill_versions_remaining 2", `s3backfill_requests_total{operation="CopyObject"} 5`} {
		if !strings.Contains(string(served), want) {
			t.Errorf("served metrics lack %q:\n%s", want, served)
		}
	}
	if strings.Contains(string(served), "s3backfill_run_exit_code") {
		t.Error("an exit code while the run goes on")
	}
	if err := j.Copy(context.Background()); err != nil {
		t.Fatal(err)
	}
	j.Close(3)
	b, err := os.ReadFile(settings.MetricsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`s3backfill_versions{dest="dst",encryption="NOT-SSE",status="succeeded"} 2`,
		`s3backfill_bytes{dest="dst",status="succeeded"} 3`, "s3backfill_versions_remaining 0",
		"s3backfill_throttled_requests_total 2", "s3backfill_run_exit_code 3", "s3backfill_run_end_timestamp_seconds",
		"# TYPE s3backfill_requests_total counter"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, b)
		}
	}
	// It parses as the Prometheus text format, and its counts are the
	// checkpoint's.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the metrics file does not parse: %v", err)
	}
	var succeeded float64
	for _, m := range families["s3backfill_versions"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "status" && l.GetValue() == "succeeded" {
				succeeded += m.GetGauge().GetValue()
			}
		}
	}
	if n := int(succeeded); n != len(e.rows(t)) {
		t.Errorf("metrics count %d succeeded versions, the checkpoint %d", n, len(e.rows(t)))
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics still served after the run")
	}
}

// TestJSONLogs: --log-format json writes one JSON object per event: a
// phase's start and end, each failed version with its key, version and
// code; a bad format is a usage error.
func TestJSONLogs(t *testing.T) {
	var buf bytes.Buffer
	log, err := job.NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t)
	put(f, "data/a", "v1", []byte("a"), nil)
	put(f, "data/x", "v1", []byte("x"), keyX.Header()) // no key opens it
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{keys: testRing(t)})
	settings, _ := e.spec.Parse()
	j, err := job.Open(context.Background(), settings, job.Deps{Source: f.Client(srcClient), Dest: f.Client(dstClient),
		Store: e.db, Log: log, Keys: testRing(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := j.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON object: %q", line)
		}
		if ev["msg"] == "phase started" || ev["msg"] == "phase finished" {
			phases = append(phases, ev["msg"].(string)+" "+ev["phase"].(string))
		}
	}
	if strings.Join(phases, ", ") != "phase started scan, phase finished scan, phase started plan, phase finished plan" {
		t.Errorf("phase events %q", phases)
	}
	if _, err := job.NewLogger(&buf, "info", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("--log-format xml: %v", err)
	}
}
