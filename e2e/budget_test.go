package e2e

import (
	"fmt"
	"strings"
	"testing"
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
