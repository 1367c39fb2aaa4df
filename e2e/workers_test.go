package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestManyWorkersOneJob: three workers started at the same instant on a
// new PostgreSQL job; the one copying the multipart objects is killed -9
// once some of their parts are uploaded. The two others take its keys over
// when its lease runs out and finish the job. Counted by mc: every version
// copied exactly once and in order, no unfinished upload; the scan was made
// once; the job's report says what a one-worker run of the same source
// says.
func TestManyWorkersOneJob(t *testing.T) {
	lab, c, w := newSource(t, "many-src")
	dst := lab.Bucket(t, c, "many-dst", true)
	one := lab.Bucket(t, c, "many-one", true)
	seedOnceWorld(t, w, 90, 6)
	pg, job := pgJob(t, lab)
	common := []string{"--source", "s3://" + w.bucket, "--delete-markers", "--endpoint-url", lab.Endpoint,
		"--workers", "3", "--part-size", "5MiB", "--multipart-threshold", "8MiB"}
	// A short lease, and few requests a second so that a copy is caught
	// half-way.
	args := append([]string{"run", "--dest", "s3://" + dst, "--db", pg, "--job", job, "--lease", "3s",
		"--max-requests-per-second", "20"}, common...)

	procs := startWorkers(t, lab, 3, args...)

	// The worker holding a key whose upload has parts recorded.
	db := pgOpen(t, pg)
	defer db.Close()
	schema := `"s3backfill_` + job + `"`
	var victim string
	deadline := time.Now().Add(2 * time.Minute)
	for victim == "" && time.Now().Before(deadline) {
		err := db.QueryRowContext(context.Background(), `SELECT l.worker FROM `+schema+`.upload_parts p
			JOIN `+schema+`.uploads u ON u.upload_id = p.upload_id
			JOIN `+schema+`.versions v ON v.id = u.row_id
			JOIN `+schema+`.key_leases l ON l.dest = v.dest AND l.key = v.key AND NOT l.done LIMIT 1`).Scan(&victim)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if victim == "" {
		for _, p := range procs {
			t.Log(p.out.String())
		}
		t.Fatal("no worker had uploaded a part in two minutes")
	}
	parts := strings.Split(victim, "-")
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	var killed *worker
	for _, p := range procs {
		if p.cmd.Process.Pid == pid {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			killed = p
		}
	}
	if killed == nil {
		t.Fatalf("worker %s is none of the three started", victim)
	}
	t.Logf("killed worker %s mid-upload", victim)
	waitWorkers(t, procs, killed)

	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	for i := range 6 {
		if k := fmt.Sprintf("big/%d", i); mcIncompleteUploads(t, lab, lab.Endpoint, dst, k) != 0 {
			t.Errorf("%s: an unfinished upload is left", k)
		}
	}
	var scans int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.scans`).Scan(&scans); err != nil || scans != 1 {
		t.Errorf("the three workers made %d scans (%v), want 1", scans, err)
	}
	var took int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.versions WHERE attempts > 1`).Scan(&took); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d versions and delete markers; %d taken over from the killed worker", n, took)
	if took == 0 {
		t.Error("no version was claimed twice: the kill took nothing from the killed worker")
	}

	// The same source, one worker, SQLite: the same report.
	file := filepath.Join(t.TempDir(), "one.db")
	if r := tool(t, lab, nil, append([]string{"run", "--dest", "s3://" + one, "--db", file}, common...)...); r.code != 0 {
		t.Fatalf("one-worker run: %s", r)
	}
	reports := map[string]string{}
	for name, db := range map[string][]string{"workers": {"--db", pg, "--job", job}, "one": {"--db", file}} {
		path := filepath.Join(t.TempDir(), name+".csv")
		if r := tool(t, lab, nil, append(append([]string{"report"}, db...), "-o", path)...); r.code != 0 {
			t.Fatalf("report: %s", r)
		}
		reports[name] = path
	}
	// The same, but that a survivor finished the killed worker's upload
	// (the report says which parts came from the interrupted run).
	resumed := regexp.MustCompile(`, \d+ of \d+ parts from an interrupted run`)
	a := reportContent(t, reports["workers"], dst)
	if !resumed.MatchString(a) {
		t.Error("no survivor finished the upload the killed worker began")
	}
	if a, b := resumed.ReplaceAllString(a, ""), reportContent(t, reports["one"], one); a != b {
		t.Errorf("the three workers' report and the one-worker report differ:\n%s", lineDiff(a, b))
	}
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPostgresRestartUnderWorkers: the database of two running workers
// stops (as a crash would: immediate shutdown) and comes back 6 s later.
// The workers wait, reconnect and finish; counted by mc, every version is
// copied once, and the checkpoint holds one outcome per version, each from
// one attempt.
func TestPostgresRestartUnderWorkers(t *testing.T) {
	lab, c, w := newSource(t, "pgdown-src")
	dst := lab.Bucket(t, c, "pgdown-dst", true)
	seedOnceWorld(t, w, 120, 2)
	pg := lab.Postgres2URL(t)
	job := newPGJob(t, pg)
	args := []string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--db", pg, "--job", job,
		"--delete-markers", "--endpoint-url", lab.Endpoint, "--workers", "3", "--part-size", "5MiB", "--multipart-threshold", "8MiB",
		"--max-requests-per-second", "20"}
	procs := startWorkers(t, lab, 2, args...)
	db := pgOpen(t, pg)
	defer db.Close()
	schema := `"s3backfill_` + job + `"`
	deadline := time.Now().Add(2 * time.Minute)
	for n := 0; n < 30 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.versions WHERE status = 'succeeded'`).Scan(&n)
	}
	labScript(t, lab, "down", "postgres2")
	db.Close()
	time.Sleep(6 * time.Second)
	for i, p := range procs {
		select {
		case err := <-p.done:
			labScript(t, lab, "up", "postgres2")
			t.Fatalf("worker %d ended while the database was down (%v):\n%s", i, err, p.out)
		default:
		}
	}
	labScript(t, lab, "up", "postgres2")
	waitWorkers(t, procs, nil)
	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	db = pgOpen(t, pg)
	defer db.Close()
	var rows, once, workers int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE attempts = 1 AND status = 'succeeded') FROM `+schema+`.versions`).
		Scan(&rows, &once); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.workers`).Scan(&workers)
	if rows != n || once != n || workers != 2 {
		t.Errorf("the checkpoint holds %d rows, %d succeeded at the first attempt, %d workers; want %d, %d and 2", rows, once, workers, n, n)
	}
}

// worker is one s3backfill process of a test running several on one job.
type worker struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error // its exit
}

// startWorkers starts n processes of the same command, killed when the
// test ends if still running.
func startWorkers(t *testing.T, lab *labenv.Lab, n int, args ...string) []*worker {
	t.Helper()
	var ws []*worker
	for range n {
		cmd, out := start(t, lab, args...)
		w := &worker{cmd, out, make(chan error, 1)}
		go func() { w.done <- cmd.Wait() }()
		ws = append(ws, w)
	}
	t.Cleanup(func() {
		for _, w := range ws {
			w.cmd.Process.Kill()
		}
	})
	return ws
}

// waitWorkers waits for every worker but skip to end well, five minutes
// at most each.
func waitWorkers(t *testing.T, ws []*worker, skip *worker) {
	t.Helper()
	for i, w := range ws {
		if w == skip {
			continue
		}
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("worker %d: %v\n%s", i, err, w.out)
			}
		case <-time.After(5 * time.Minute):
			t.Fatalf("worker %d still runs after 5 minutes:\n%s", i, w.out)
		}
	}
}
