package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCronBudget: a cron-style run with --max-versions stops with exit
// code 4 and says what is left; the next run (the next cron tick)
// finishes; mc counts every version once on the destination.
func TestCronBudget(t *testing.T) {
	lab, c, w := newSource(t, "budget-src")
	dst := lab.Bucket(t, c, "budget-dst", true)
	for k := range 30 {
		w.put(t, &srcVersion{key: fmt.Sprintf("k/%02d", k), data: []byte(fmt.Sprint(k)), enc: encNone})
	}
	db, report := jobFiles(t)
	first := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--report", report,
		"--endpoint-url", lab.Endpoint, "--workers", "2", "--max-versions", "10")
	if first.code != 4 || !strings.Contains(first.stderr, "stopped by --max-versions 10 with") ||
		!strings.Contains(first.stderr, "rerun to continue") {
		t.Fatalf("a run over its budget: %s", first)
	}
	if rows := readDestReport(t, report); len(rows.rows) != 30 {
		t.Errorf("the report of the stopped run has %d rows, want all 30", len(rows.rows))
	}
	if second := tool(t, lab, nil, "run", "--db", db); second.code != 0 {
		t.Fatalf("the next run: %s", second)
	}
	if n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst); n != 30 {
		t.Errorf("%d versions replicated, want 30", n)
	}
}

// TestCronTimeBudgetAndKilledRun: --max-duration stops a run that would
// take longer with exit code 4; a run killed (SIGKILL) in the middle
// leaves the job to the next, which says it takes over; the run after
// finishes; mc counts every version once.
func TestCronTimeBudgetAndKilledRun(t *testing.T) {
	lab, c, w := newSource(t, "budget-time-src")
	dst := lab.Bucket(t, c, "budget-time-dst", true)
	for k := range 60 {
		w.put(t, &srcVersion{key: fmt.Sprintf("k/%02d", k), data: []byte(fmt.Sprint(k)), enc: encNone})
	}
	db, _ := jobFiles(t)
	slow := []string{"--workers", "2", "--max-requests-per-second", "20"} // 60 copies and read-backs: 6 s
	first := tool(t, lab, nil, append([]string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--db", db,
		"--endpoint-url", lab.Endpoint, "--max-duration", "2s"}, slow...)...)
	if first.code != 4 || !strings.Contains(first.stderr, "stopped by --max-duration 2s with") {
		t.Fatalf("a run over its time: %s", first)
	}
	cmd, out := start(t, lab, append([]string{"run", "--db", db}, slow...)...)
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	next := tool(t, lab, nil, "run", "--db", db)
	if next.code != 0 || !strings.Contains(next.stderr, "ended without releasing it") {
		t.Fatalf("the run after a kill -9: %s\n(the killed run said:\n%s)", next, out)
	}
	if n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst); n != 60 {
		t.Errorf("%d versions replicated, want 60", n)
	}
}
