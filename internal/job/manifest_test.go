package job_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/inventory/manifesttest"
	"github.com/s3backfill/s3backfill/planner"
)

// TestManifestAWSShapedRequests: from an inventory, against a server that
// answers copies as AWS S3 documents (version id, encryption, ETag in the
// answer), an SSE-S3 version costs its CopyObject alone: no HEAD of the
// source, none of the replica. An SSE-C version costs its CopyObject and
// the HEAD of its replica; the wrong key tried before its own is tried
// until a copy learns which key opens the folder. Besides, the destination is listed alongside the work
// (--adopt-existing).
func TestManifestAWSShapedRequests(t *testing.T) {
	f := newFake(t)
	var rows []manifesttest.Row
	add := func(key string, header map[string]string, enc string) {
		data := put(f, key, "v1", []byte(key), header)
		rows = append(rows, manifesttest.Row{Key: key, VersionID: "v1", IsLatest: true, Size: int64(len(data)),
			LastModified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ETag: fmt.Sprintf("%x", md5.Sum(data)), StorageClass: "STANDARD",
			EncryptionStatus: enc})
	}
	const plain, ssec = 20, 5
	for i := range plain {
		add(filepathKey("s3", i), map[string]string{hSSE: "AES256"}, "SSE-S3")
	}
	for i := range ssec {
		add(filepathKey("c", i), keyB.Header(), "SSE-C") // key-b: key-a is tried first, and refused
	}
	e := openEnv(t, f, testSpec(f, "", ""), options{keys: testRing(t), manifest: writeManifest(t, rows, nil)})
	e.run(t)
	for _, r := range e.rows(t) {
		if r.Status != planner.StatusSucceeded || r.From != planner.FactsManifest {
			t.Errorf("%s: %s, facts from %q (%s)", r.Key, r.Status, r.From, r.Message)
		}
		if r.Encryption == planner.SSEC && (r.SSECKeyID != keyB.ID || r.ReplicaSSECKeyID != keyB.ID) {
			t.Errorf("%s: keys %q -> %q recorded, want key-b's", r.Key, r.SSECKeyID, r.ReplicaSSECKeyID)
		}
	}
	heads, copies, lists := len(workOps(f.Ops("HeadObject"))), len(f.Ops("CopyObject")), len(f.Ops("ListObjectVersions"))
	t.Logf("%d versions: %d CopyObject, %d HeadObject, %d ListObjectVersions: %.2f requests per version",
		plain+ssec, copies, heads, lists, float64(copies+heads+lists)/float64(plain+ssec))
	// An SSE-C replica is read back: its ETag is no MD5 and no checksum
	// was asked for, so only a HEAD proves its size. Nothing else is.
	for _, h := range workOps(f.Ops("HeadObject")) {
		if h.Bucket != dstBucket || h.Key[:2] != "c/" {
			t.Errorf("HEAD %s/%s: only SSE-C replicas are read back", h.Bucket, h.Key)
		}
	}
	if heads != ssec {
		t.Errorf("%d HEADs, want %d (the SSE-C replicas')", heads, ssec)
	}
	// key-a is tried first until a copy learns that key-b opens this
	// folder: once per worker at most.
	if refused := copies - plain - ssec; refused < 1 || refused > e.spec.Workers {
		t.Errorf("%d CopyObject, want %d and one refused key per worker at most", copies, plain+ssec)
	}
	if lists > 10 {
		t.Errorf("%d listings: the destination is listed page by page alongside the work, not per version", lists)
	}
}

func filepathKey(prefix string, i int) string { return fmt.Sprintf("%s/%02d", prefix, i) }

// writeManifest writes an inventory of rows (CSV, with cols, nil: all) to
// a new folder and returns its manifest.json.
func writeManifest(t *testing.T, rows []manifesttest.Row, cols []string) string {
	t.Helper()
	loc, err := manifesttest.WriteDir(rows, manifesttest.Options{Format: "CSV", SourceBucket: srcBucket, DestBucket: "inv", Columns: cols},
		t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// row is the inventory row of a version put on the fake.
func invRow(key, vid string, data []byte, latest bool, at time.Time, enc string) manifesttest.Row {
	return manifesttest.Row{Key: key, VersionID: vid, IsLatest: latest, Size: int64(len(data)), LastModified: at,
		ETag: fmt.Sprintf("%x", md5.Sum(data)), StorageClass: "STANDARD", EncryptionStatus: enc}
}

// TestManifestIncremental: a newer inventory adds only the versions the
// job has not seen, after the older ones; --inspect always HEADs each
// version although the inventory described it; an inventory without
// EncryptionStatus leaves every version to a HEAD.
func TestManifestIncremental(t *testing.T) {
	f := newFake(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v1 := put(f, "a", "v1", []byte("one"), map[string]string{hSSE: "AES256"})
	first := []manifesttest.Row{invRow("a", "v1", v1, true, t0, "SSE-S3")}
	e := openEnv(t, f, testSpec(f, "", ""), options{manifest: writeManifest(t, first, nil)})
	e.run(t)
	v2 := put(f, "a", "v2", []byte("two"), nil)
	v3 := put(f, "b", "v3", []byte("three"), nil)
	second := []manifesttest.Row{invRow("a", "v2", v2, true, t0.Add(time.Hour), "NOT-SSE"), invRow("a", "v1", v1, false, t0, "SSE-S3"),
		invRow("b", "v3", v3, true, t0, "NOT-SSE")}
	e.opts.manifest = writeManifest(t, second, nil)
	e.reopen(t)
	if st := e.scanPlan(t); st.Seen != 3 || st.Added != 2 {
		t.Errorf("the newer inventory: %+v, want 3 seen, 2 added", st)
	}
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := replicas(f, "a"); len(got) != 2 {
		t.Errorf("a has %d replicas, want 2 (v1 then v2)", len(got))
	}
	if cs := copyObjects(f); cs["a@v1"] != 1 || cs["a@v2"] != 1 {
		t.Errorf("copies %v, want a@v1 and a@v2 once each", cs)
	}

	// --inspect always: the facts are read from the source again.
	heads := len(f.Ops("HeadObject"))
	v4 := put(f, "c", "v4", []byte("four"), nil)
	e.spec.Inspect = "always"
	e.opts.manifest = writeManifest(t, append(second, invRow("c", "v4", v4, true, t0, "NOT-SSE")), nil)
	e.reopen(t)
	e.scanPlan(t)
	if r := e.row(t, "c", "v4"); r.From != planner.FactsHead {
		t.Errorf("c@v4 with --inspect always: facts from %q, want a HEAD", r.From)
	}
	if n := len(f.Ops("HeadObject")) - heads; n != 1 {
		t.Errorf("%d HEADs with --inspect always, want 1 (the new version's)", n)
	}

	// Without EncryptionStatus the inventory says too little: HEAD.
	e.spec.Inspect = ""
	v5 := put(f, "d", "v5", []byte("five"), nil)
	cols := []string{"Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag", "StorageClass"}
	e.opts.manifest = writeManifest(t, []manifesttest.Row{invRow("d", "v5", v5, true, t0, "")}, cols)
	e.reopen(t)
	e.scanPlan(t)
	if r := e.row(t, "d", "v5"); r.From != planner.FactsHead || r.Encryption != planner.NotSSE {
		t.Errorf("d@v5 from an inventory without EncryptionStatus: facts from %q (%s), want a HEAD", r.From, r.Encryption)
	}
}
