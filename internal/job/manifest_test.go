package job_test

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/inventory/manifesttest"
	"github.com/s3backfill/s3backfill/planner"
)

// TestManifestAWSShapedRequests: from an inventory, against a server that
// answers copies as AWS S3 documents (version id, encryption, ETag in the
// answer), an SSE-S3 version costs its CopyObject alone: no HEAD of the
// source, none of the replica. An SSE-C version costs its CopyObject plus
// one refused CopyObject per wrong key tried before its own, and the HEAD
// of its replica. Besides, the destination is listed alongside the work
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
	dir := t.TempDir()
	key, err := manifesttest.Write(rows, manifesttest.Options{Format: "CSV", SourceBucket: srcBucket, DestBucket: "inv"},
		func(key string, body []byte) error {
			p := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, body, 0o644)
		})
	if err != nil {
		t.Fatal(err)
	}
	e := openEnv(t, f, testSpec(f, "", ""), options{keys: testRing(t), manifest: filepath.Join(dir, filepath.FromSlash(key))})
	e.run(t)
	for _, r := range e.rows(t) {
		if r.Status != planner.StatusSucceeded || r.From != planner.FactsManifest {
			t.Errorf("%s: %s, facts from %q (%s)", r.Key, r.Status, r.From, r.Message)
		}
		if r.Encryption == planner.SSEC && (r.SSECKeyID != keyB.ID || r.ReplicaSSECKeyID != keyB.ID) {
			t.Errorf("%s: keys %q -> %q recorded, want key-b's", r.Key, r.SSECKeyID, r.ReplicaSSECKeyID)
		}
	}
	heads, copies, lists := len(f.Ops("HeadObject")), len(f.Ops("CopyObject")), len(f.Ops("ListObjectVersions"))
	t.Logf("%d versions: %d CopyObject, %d HeadObject, %d ListObjectVersions: %.2f requests per version",
		plain+ssec, copies, heads, lists, float64(copies+heads+lists)/float64(plain+ssec))
	// An SSE-C replica is read back: its ETag is no MD5 and no checksum
	// was asked for, so only a HEAD proves its size. Nothing else is.
	for _, h := range f.Ops("HeadObject") {
		if h.Bucket != dstBucket || h.Key[:2] != "c/" {
			t.Errorf("HEAD %s/%s: only SSE-C replicas are read back", h.Bucket, h.Key)
		}
	}
	if heads != ssec {
		t.Errorf("%d HEADs, want %d (the SSE-C replicas')", heads, ssec)
	}
	if want := plain + 2*ssec; copies != want {
		t.Errorf("%d CopyObject, want %d (one per version, and one refused key per SSE-C version)", copies, want)
	}
	if lists > 10 {
		t.Errorf("%d listings: the destination is listed page by page alongside the work, not per version", lists)
	}
}

func filepathKey(prefix string, i int) string { return fmt.Sprintf("%s/%02d", prefix, i) }
