package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
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

// seedOnceWorld writes plaintext keys with one to three versions, a few
// multipart objects (in two parts), and delete markers on some keys.
func seedOnceWorld(t *testing.T, w *world, keys, big int) {
	t.Helper()
	r := mrand.New(mrand.NewPCG(21, 22))
	for i := range keys {
		key := fmt.Sprintf("obj/%03d", i)
		for j := range 1 + i%3 {
			w.put(t, &srcVersion{key: key, data: content(r, 200+i+j), enc: encNone})
		}
		if i%9 == 4 {
			w.del(t, key)
		}
	}
	for i := range big {
		putInParts(t, w, fmt.Sprintf("big/%d", i), content(r, 11*mib), []int{6 * mib, 5 * mib}, "")
	}
}

// TestLostAnswersMakeNoDuplicate: a proxy lets the server act on a share
// of CopyObject, CompleteMultipartUpload and delete-marker DELETE requests
// and then drops their answers. Counted by mc, the destination holds every
// source history exactly once: no version copied twice.
func TestLostAnswersMakeNoDuplicate(t *testing.T) {
	lab, c, w := newSource(t, "once-src")
	dst := lab.Bucket(t, c, "once-dst", true)
	seedOnceWorld(t, w, 150, 4)
	p := newProxy(t, lab, lab.Endpoint)
	p.setFaults(func(r *http.Request, n int) fault {
		switch kind := requestKind(r); {
		case kind == "CopyObject" && n%6 == 0,
			kind == "CompleteMultipartUpload" && n%2 == 1,
			kind == http.MethodDelete && !r.URL.Query().Has("uploadId") && n%3 == 1:
			return resetAfter // done, and the answer lost
		}
		return pass
	})
	db, _ := jobFiles(t)
	res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--delete-markers",
		"--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--workers", "6", "--part-size", "5MiB", "--multipart-threshold", "8MiB")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	t.Logf("%d versions and delete markers; answers dropped: %d CopyObject, %d Complete, %d DELETE", n,
		p.count("CopyObject")/6, (p.count("CompleteMultipartUpload")+1)/2, (p.count(http.MethodDelete)+2)/3)

	// What the reconciliation costs: the same job without faults, into a
	// new bucket, against the faulty run (BENCHMARKS.md quotes these).
	clean := lab.Bucket(t, c, "once-clean", true)
	db2 := filepath.Join(t.TempDir(), "clean.db")
	if res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+clean, "--db", db2, "--delete-markers",
		"--endpoint-url", lab.Endpoint, "--workers", "6", "--part-size", "5MiB", "--multipart-threshold", "8MiB"); res.code != 0 {
		t.Fatalf("%s", res)
	}
	faulty, plain := requestsOf(t, lab, db), requestsOf(t, lab, db2)
	t.Logf("S3 requests per version and delete marker: %.3f without faults, %.3f with the answers dropped (%d and %d in all)",
		float64(plain)/float64(n), float64(faulty)/float64(n), plain, faulty)
	if n < 300 || p.count("CopyObject") < 250 || p.count("CompleteMultipartUpload") < 4 || p.count(http.MethodDelete) < 10 {
		t.Errorf("the world is smaller than the test means: %d versions, %d copies, %d completes, %d deletes",
			n, p.count("CopyObject"), p.count("CompleteMultipartUpload"), p.count(http.MethodDelete))
	}
}

// TestKillBetweenCreateAndRecord: a run killed after the server made a
// multipart upload but before its id reached the checkpoint (the proxy
// holds the answer) leaves an upload S3 keeps; the next run finds it from
// the intent it recorded first and aborts it. Counted by mc, no upload is
// left, and each object has one replica.
func TestKillBetweenCreateAndRecord(t *testing.T) {
	lab, c, w := newSource(t, "intent-src")
	dst := lab.Bucket(t, c, "intent-dst", true)
	seedOnceWorld(t, w, 0, 2)
	p := newProxy(t, lab, lab.Endpoint)
	p.setFaults(func(r *http.Request, n int) fault {
		if requestKind(r) == "CreateMultipartUpload" {
			return passHang
		}
		return pass
	})
	db, _ := jobFiles(t)
	args := []string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--db", db,
		"--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--part-size", "5MiB", "--multipart-threshold", "8MiB"}
	cmd, out := start(t, lab, args...)
	deadline := time.Now().Add(time.Minute)
	for p.count("passed:CreateMultipartUpload") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if p.count("passed:CreateMultipartUpload") < 2 {
		t.Fatalf("the uploads were not made in a minute:\n%s", out)
	}
	orphans := 0
	for _, key := range []string{"big/0", "big/1"} {
		orphans += mcIncompleteUploads(t, lab, lab.Endpoint, dst, key)
	}
	if orphans != 2 {
		t.Fatalf("%d uploads after the kill, want the 2 the killed run made", orphans)
	}
	p.setFaults(nil)
	if res := tool(t, lab, nil, args...); res.code != 0 {
		t.Fatalf("%s", res)
	}
	for _, key := range []string{"big/0", "big/1"} {
		if n := mcIncompleteUploads(t, lab, lab.Endpoint, dst, key); n != 0 {
			t.Errorf("%s: %d uploads left on the destination", key, n)
		}
	}
	sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
}

// TestLostCheckpoint: a job run to the end, its checkpoint deleted, and the
// same command run again with a new --db copies nothing: every version is
// adopted from the destination, and the report says so. Then a job killed
// half-way, its checkpoint lost: the next job copies only what is missing.
func TestLostCheckpoint(t *testing.T) {
	lab, c, w := newSource(t, "lost-src")
	dst := lab.Bucket(t, c, "lost-dst", true)
	seedOnceWorld(t, w, 60, 2)
	p := newProxy(t, lab, lab.Endpoint)
	dir := t.TempDir()
	run := func(db string, extra ...string) result {
		return tool(t, lab, nil, append([]string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst,
			"--db", filepath.Join(dir, db), "--delete-markers", "--endpoint-url", p.url(), "--ca-bundle", p.caBundle,
			"--part-size", "5MiB", "--multipart-threshold", "8MiB"}, extra...)...)
	}
	if res := run("first.db"); res.code != 0 {
		t.Fatalf("%s", res)
	}
	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	os.Remove(filepath.Join(dir, "first.db"))
	copies := p.count("CopyObject") + p.count("CompleteMultipartUpload") + p.count(http.MethodDelete)
	report := filepath.Join(dir, "second.csv")
	if res := run("second.db", "--report", report); res.code != 0 {
		t.Fatalf("%s", res)
	}
	if again := p.count("CopyObject") + p.count("CompleteMultipartUpload") + p.count(http.MethodDelete) - copies; again != 0 {
		t.Errorf("the second job sent %d writes, want none", again)
	}
	if m := sameHistories(t, lab, lab.Endpoint, w.bucket, dst); m != n {
		t.Errorf("the destination holds %d versions after the second job, %d before", m, n)
	}
	_, rows := readReport(t, report)
	for _, r := range rows {
		if r["TaskStatus"] != "succeeded" || !(strings.Contains(r["ResultMessage"], "adopted: already on the destination") ||
			strings.Contains(r["ResultMessage"], "delete marker replayed before this job")) {
			t.Errorf("%s@%s: %s %q, want adopted", r["Key"], r["VersionId"], r["TaskStatus"], r["ResultMessage"])
		}
	}
	if len(rows) != n {
		t.Errorf("%d report rows, want %d", len(rows), n)
	}

	// Killed half-way, its checkpoint lost.
	dst2 := lab.Bucket(t, c, "lost-dst2", true)
	p.setFaults(func(r *http.Request, n int) fault {
		if requestKind(r) == "CopyObject" {
			return slow
		}
		return pass
	})
	args := []string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst2, "--db", filepath.Join(dir, "killed.db"),
		"--delete-markers", "--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--part-size", "5MiB",
		"--multipart-threshold", "8MiB", "--workers", "4"}
	cmd, out := start(t, lab, args...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if !waitForProgress(t, filepath.Join(dir, "killed.db"), 30, done) {
		t.Fatalf("the run ended before it could be killed:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	p.setFaults(nil)
	args[6] = filepath.Join(dir, "after.db")
	if res := tool(t, lab, nil, args...); res.code != 0 {
		t.Fatalf("%s", res)
	}
	sameHistories(t, lab, lab.Endpoint, w.bucket, dst2)
}

// TestOutageRiddenOut: the server stops for 30 s in the middle of a run
// (the lab's second MinIO, killed and started again) and the run rides it
// out: exit 0, and by mc, every version copied once.
func TestOutageRiddenOut(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client2()
	w := newWorld(c, lab.Bucket(t, c, "outage-src", true))
	dst := lab.Bucket(t, c, "outage-dst", true)
	seedOnceWorld(t, w, 120, 0)
	db, _ := jobFiles(t)
	cmd, out := start(t, lab, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--delete-markers",
		"--endpoint-url", lab.Endpoint2, "--max-requests-per-second", "25", "--workers", "4")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if !waitForProgress(t, db, 20, done) {
		t.Fatalf("the run ended before the outage:\n%s", out)
	}
	labScript(t, lab, "down", "minio2")
	downAt := time.Now()
	select {
	case err := <-done:
		labScript(t, lab, "up", "minio2")
		t.Fatalf("the run ended during the outage (%v):\n%s", err, out)
	case <-time.After(30 * time.Second):
	}
	labScript(t, lab, "up", "minio2")
	t.Logf("the server was down %s", time.Since(downAt).Round(time.Second))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the run did not end:\n%s", out)
	}
	sameHistories(t, lab, lab.Endpoint2, w.bucket, dst)
}

// labScript runs scripts/lab on this lab (its directory and ports).
func labScript(t *testing.T, lab *labenv.Lab, args ...string) {
	t.Helper()
	u, err := url.Parse(lab.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../scripts/lab", args...)
	cmd.Env = append(os.Environ(), "S3BACKFILL_LAB_DIR="+lab.Dir, "S3BACKFILL_LAB_PORT="+u.Port())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/lab %v: %v\n%s", args, err, out)
	}
}

// requestsOf is the S3 request count status reports for a job's last run.
func requestsOf(t *testing.T, lab *labenv.Lab, db string) int {
	t.Helper()
	st := tool(t, lab, nil, "status", "--db", db)
	m := regexp.MustCompile(`(\d+) S3 requests`).FindStringSubmatch(st.stdout)
	if st.code != 0 || m == nil {
		t.Fatalf("status: %s", st)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
