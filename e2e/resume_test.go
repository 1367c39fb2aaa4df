package e2e

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/planner"
)

// TestRulesSkipKMSAndDeleteMarkers: without --replicate-kms and
// --delete-markers, SSE-KMS versions and delete markers are skipped with
// S3's reasons and nothing of them reaches the destination.
func TestRulesSkipKMSAndDeleteMarkers(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "rules-src", false)
	dst := lab.Bucket(t, c, "rules-dst", true)
	w := seedFullWorld(t, lab, c, src)
	keyFile := writeKeyFile(t, w.customerKeys())
	db, report := jobFiles(t)

	r := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db,
		"--keys", keyFile, "--report", report, "--endpoint-url", lab.Endpoint,
		"--multipart-threshold", "5MiB", "--part-size", "5MiB")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r)
	}
	rep := readDestReport(t, report)
	rep.checkShape(t, w.total())
	checkReplicas(t, w.world, c, replicaCheck{dest: dst, expect: w.expect(false, "", false), report: rep})
	// S3's reasons, word for word.
	for _, key := range w.keys {
		for _, v := range w.versions[key] {
			row := rep.row(t, key, v.versionID, dst)
			switch {
			case row == nil:
			case v.deleteMarker && row["ResultMessage"] != "delete marker replication not enabled":
				t.Errorf("%q@%s: delete marker skipped with %q", key, v.versionID, row["ResultMessage"])
			case v.enc == encKMS && row["ResultMessage"] != "KMS replication not enabled":
				t.Errorf("%q@%s: SSE-KMS skipped with %q", key, v.versionID, row["ResultMessage"])
			}
		}
	}
}

// TestResumeAfterKill kills the tool (SIGKILL) several times while it
// copies, then lets a run finish: every source version has exactly one
// replica, in order, and nothing was copied twice.
func TestResumeAfterKill(t *testing.T) {
	lab, c, w := newSource(t, "resume-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "resume-dst", true)
	tax := newCustomerKey("tax", true, "ssec/")
	r := mrand.New(mrand.NewPCG(3, 4))
	for k := range 400 {
		key := fmt.Sprintf("k/%03d", k)
		v := &srcVersion{key: key, enc: encNone}
		switch k % 4 {
		case 1:
			v.enc = encS3
		case 2:
			v.key, v.enc, v.ssec = fmt.Sprintf("ssec/%03d", k), encC, tax
		}
		for i := range 1 + k%3 {
			vv := *v
			vv.data = content(r, 500+i)
			w.put(t, &vv)
		}
		if k%10 == 9 {
			w.del(t, v.key)
		}
	}
	for k := range 3 { // multipart copies in flight when killed
		w.put(t, &srcVersion{key: fmt.Sprintf("big/%d", k), data: content(r, 11<<20), enc: encNone})
	}
	keyFile := writeKeyFile(t, []*customerKey{tax})
	db := filepath.Join(t.TempDir(), "job.db")
	args := []string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--keys", keyFile,
		"--endpoint-url", lab.Endpoint, "--delete-markers", "--multipart-threshold", "5MiB", "--part-size", "5MiB",
		"--workers", "4"}

	total := int64(w.total())
	kills := 0
	for _, at := range []int64{total / 5, total / 2, total * 4 / 5} {
		cmd, out := start(t, lab, args...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := waitForProgress(t, db, at, done)
		if killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-done
			kills++
			continue
		}
		t.Logf("run finished before it could be killed at %d/%d versions:\n%s", at, total, out)
	}
	if kills == 0 {
		t.Fatal("no run was killed mid-copy; the test proved nothing")
	}
	var outs outputs
	final := tool(t, lab, &outs, "run", "--db", db)
	if final.code != 0 {
		t.Fatalf("final run: exit %d\n%s", final.code, final)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: v.enc, ssec: v.ssec}
	}})
	t.Logf("killed %d times; %d versions", kills, total)
	checkNoSecrets(t, []*customerKey{tax}, append([]string{}, mustGlob(t, db+"*")...), outs.all.Bytes())
}

// waitForProgress polls the checkpoint until at least n versions are
// settled (true), or the run ends first (false).
func waitForProgress(t *testing.T, db string, n int64, done <-chan error) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		case <-time.After(20 * time.Millisecond):
		}
		if settled(db) >= n {
			return true
		}
	}
	t.Fatalf("no progress to %d versions in 5 minutes", n)
	return false
}

// settled counts the rows with an outcome, reading the checkpoint as
// status does (it may not exist yet).
func settled(path string) int64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := checkpoint.OpenReader(context.Background(), path)
	if err != nil {
		return 0
	}
	defer db.Close()
	counts, err := db.Counts(context.Background())
	if err != nil {
		return 0
	}
	var n int64
	for _, c := range counts {
		if c.Status == planner.StatusSucceeded {
			n += c.Rows
		}
	}
	return n
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, m, err)
	}
	return m
}
