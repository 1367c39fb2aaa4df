package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// TestIncrementalWithPrefixes: a job from s3://src/data to s3://dst/backup
// maps keys by replacing the prefix, leaves keys outside the prefix alone,
// and a later run copies only the versions created since, after the ones
// already copied.
func TestIncrementalWithPrefixes(t *testing.T) {
	lab, c, w := newSource(t, "incr-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "incr-dst", true)
	outside := newWorld(c, src) // under another prefix: not part of the job
	r := mrand.New(mrand.NewPCG(5, 6))
	for k := range 20 {
		key := fmt.Sprintf("data/%02d/file", k)
		for range 1 + k%3 {
			w.put(t, &srcVersion{key: key, data: content(r, 100), enc: encS3})
		}
		outside.put(t, &srcVersion{key: fmt.Sprintf("database/%02d", k), data: content(r, 10), enc: encNone})
	}
	db := filepath.Join(t.TempDir(), "job.db")
	var out outputs
	first := tool(t, lab, &out, "run", "--source", "s3://"+src+"/data", "--dest", "s3://"+dst+"/backup/",
		"--db", db, "--endpoint-url", lab.Endpoint, "--delete-markers")
	if first.code != 0 {
		t.Fatalf("first run: %s", first)
	}
	replicas := replicaCheck{dest: dst, srcPrefix: "data/", destPrefix: "backup/", expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: v.enc}
	}}
	checkReplicas(t, w, c, replicas)

	// New versions, a new key and a delete marker since the first run.
	before := listVersions(t, c, dst)
	added := 0
	for k := 0; k < 20; k += 4 {
		w.put(t, &srcVersion{key: fmt.Sprintf("data/%02d/file", k), data: content(r, 200), enc: encNone})
		added++
	}
	w.put(t, &srcVersion{key: "data/new/key", data: content(r, 5), enc: encS3})
	w.del(t, "data/01/file")
	added += 2
	second := tool(t, lab, &out, "run", "--db", db)
	if second.code != 0 {
		t.Fatalf("second run: %s", second)
	}
	if !strings.Contains(second.stderr, fmt.Sprintf("new=%d", added)) {
		t.Errorf("second run did not report %d new versions:\n%s", added, second.stderr)
	}
	checkReplicas(t, w, c, replicas)
	after := listVersions(t, c, dst)
	// The replicas made by the first run are untouched, still first.
	for key, old := range before {
		if got := after[key]; len(got) < len(old) || fmt.Sprint(got[:len(old)]) != fmt.Sprint(old) {
			t.Errorf("%q: the history copied first changed: %v -> %v", key, old, got)
		}
	}
	for key := range after {
		if !strings.HasPrefix(key, "backup/") {
			t.Errorf("replica %q outside the destination prefix", key)
		}
	}
}
