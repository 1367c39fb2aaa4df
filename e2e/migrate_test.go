package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestMigrateDBThenWorkers: an SQLite job killed -9 half-way (some versions
// copied, some in doubt, uploads begun) is moved into PostgreSQL with
// migrate-db; two workers then finish it. Counted by mc, every version is
// copied once, in order, and no upload is left; the report covers them all.
func TestMigrateDBThenWorkers(t *testing.T) {
	lab, c, w := newSource(t, "move-src")
	dst := lab.Bucket(t, c, "move-dst", true)
	seedOnceWorld(t, w, 90, 4)
	file, _ := jobFiles(t)
	pg, job := pgJob(t, lab)
	common := []string{"--endpoint-url", lab.Endpoint, "--workers", "3", "--max-requests-per-second", "20"}
	first, out := start(t, lab, append([]string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--db", file,
		"--delete-markers", "--part-size", "5MiB", "--multipart-threshold", "8MiB"}, common...)...)
	done := make(chan error, 1)
	go func() { done <- first.Wait() }()
	if !waitForProgress(t, file, 40, done) {
		t.Fatalf("the first run ended before it was killed:\n%s", out)
	}
	first.Process.Signal(syscall.SIGKILL)
	<-done

	var moved outputs
	r := tool(t, lab, &moved, "migrate-db", "--from", file, "--to", pg, "--job", job)
	if r.code != 0 || !strings.Contains(r.stdout, "moved job "+job) {
		t.Fatalf("migrate-db: %s", r)
	}
	if strings.Contains(moved.all.String(), pgPassword(t, pg)) {
		t.Error("migrate-db printed the database password")
	}
	again := tool(t, lab, nil, "migrate-db", "--from", file, "--to", pg, "--job", job)
	if again.code != 2 || !strings.Contains(again.stderr, "already holds a job") {
		t.Errorf("a second migrate-db of the same job: want exit 2, refused\n%s", again)
	}

	args := append([]string{"run", "--db", pg, "--job", job}, common...)
	waitWorkers(t, startWorkers(t, lab, 2, args...), nil)
	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	for i := range 4 {
		if k := fmt.Sprintf("big/%d", i); mcIncompleteUploads(t, lab, lab.Endpoint, dst, k) != 0 {
			t.Errorf("%s: an unfinished upload is left", k)
		}
	}
	rep := tool(t, lab, nil, "report", "--db", pg, "--job", job)
	if got := strings.Count(rep.stdout, ",succeeded,"); rep.code != 0 || got != n {
		t.Errorf("the report says %d versions succeeded, want %d\n%s", got, n, rep.stderr)
	}
}
