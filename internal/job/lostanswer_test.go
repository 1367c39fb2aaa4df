package job_test

import (
	"context"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// TestLostAnswersAdopted: when the destination acts on a write and its
// answer is lost (the connection drops), the job finds the replica and
// records it, without sending the write again: a CopyObject, a
// CompleteMultipartUpload and the DELETE of a delete marker. When the
// destination cannot even be listed then, the task stays in doubt, counts
// as not done, and the next run adopts its replica.
func TestLostAnswersAdopted(t *testing.T) {
	f := newFake(t)
	put(f, "data/a.txt", "a1", []byte("alpha"), nil)
	put(f, "data/b.txt", "b1", []byte("bravo"), nil)
	f.Put(srcBucket, "data/c.bin", s3fake.Object{VersionID: "c1", Size: 9 * mib})
	put(f, "data/gone", "g1", []byte("golf"), nil)
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "gdm", DeleteMarker: true})
	spec := testSpec(f, "data", "backup")
	spec.DeleteMarkers = true
	e := openEnv(t, f, spec, options{})
	e.scanPlan(t)

	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Bucket != dstBucket {
			return nil
		}
		switch {
		case r.Op == "CopyObject", r.Op == "CompleteMultipartUpload", r.Op == "DeleteObject":
			f.Answer(r)             // the destination acts...
			return s3fake.Dropped() // ...and the answer never arrives
		case r.Op == "ListObjectVersions" && r.Query.Get("prefix") == "backup/b.txt":
			return s3fake.Error(403, "AccessDenied")
		}
		return nil
	})
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	f.SetHook(nil)

	rows := byVersion(e.rows(t))
	for _, kv := range []string{"data/a.txt@a1", "data/c.bin@c1", "data/gone@g1", "data/gone@gdm"} {
		r := rows[kv]
		destKey := "backup/" + strings.TrimPrefix(r.Key, "data/")
		vs := replicas(f, destKey)
		found := false
		for _, v := range vs {
			found = found || v.VersionID == r.Replica.VersionID
		}
		if r.Status != planner.StatusSucceeded || !found || !strings.Contains(r.Message, "answer was lost") {
			t.Errorf("%s: %s, replica %q, %q; want succeeded with the replica found on the destination", kv, r.Status, r.Replica.VersionID, r.Message)
		}
	}
	for key, n := range map[string]int{"backup/a.txt": 1, "backup/b.txt": 1, "backup/c.bin": 1, "backup/gone": 2} {
		if got := len(f.Versions(dstBucket, key)); got != n {
			t.Errorf("%s: %d destination versions, want %d (a write sent once)", key, got, n)
		}
	}
	for op, n := range map[string]int{"CopyObject": 3, "CompleteMultipartUpload": 1, "DeleteObject": 1} {
		if got := len(f.Ops(op)); got != n {
			t.Errorf("%d %s, want %d: a write whose answer was lost is not sent again: %v", got, op, n, copyObjects(f))
		}
	}
	b := rows["data/b.txt@b1"]
	if !b.InDoubt() {
		t.Fatalf("b.txt, whose replica key could not be listed: %s %q, want left in doubt", b.Status, b.Message)
	}
	if n, err := e.job.Failed(context.Background()); err != nil || n != 1 {
		t.Errorf("Failed() = %d, %v; want 1 (b.txt in doubt is not done)", n, err)
	}

	e.reopen(t)
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("second Copy: %v", err)
	}
	b = e.row(t, "data/b.txt", "b1")
	if vs := f.Versions(dstBucket, "backup/b.txt"); b.Status != planner.StatusSucceeded || len(vs) != 1 || b.Replica.VersionID != vs[0].VersionID {
		t.Errorf("b.txt after the next run: %s, replica %q, %d destination versions; want its one replica adopted",
			b.Status, b.Replica.VersionID, len(vs))
	}
	if got := copyObjects(f)["data/b.txt@b1"]; got != 1 {
		t.Errorf("%d CopyObject of b.txt, want 1", got)
	}
	if n, err := e.job.Failed(context.Background()); err != nil || n != 0 {
		t.Errorf("Failed() = %d, %v after the next run; want 0", n, err)
	}
}
