package job_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// verify runs Verify and returns its counts and the keys of the
// mismatches it reported, sorted.
func verify(t *testing.T, e *env, content bool) (checked, bad int64, keys []string, ms []job.Mismatch) {
	t.Helper()
	checked, bad, err := e.job.Verify(context.Background(), content, func(m job.Mismatch) {
		ms = append(ms, m)
		keys = append(keys, m.Row.Key)
	})
	if err != nil {
		t.Fatalf("Verify(content=%v): %v", content, err)
	}
	slices.Sort(keys)
	return checked, bad, keys, ms
}

// TestVerify: after a copy every replica checks out, with and without
// content; a replica replaced by other bytes or deleted is a mismatch,
// reported through the callback and recorded; an SSE-C replica whose bytes
// changed under the same size and ETag is found only by --content, which
// reads both sides with their keys.
func TestVerify(t *testing.T) {
	f := newFake(t)
	put(f, "data/a.txt", "a1", []byte("alpha"), nil)
	put(f, "data/b.txt", "b1", []byte("bravo"), nil)
	put(f, "data/s.txt", "s1", []byte("sierra"), keyA.Header())
	put(f, "data/gone", "g1", []byte("golf"), nil)
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "gdm", DeleteMarker: true})
	spec := testSpec(f, "data", "backup")
	spec.DeleteMarkers = true
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	e.run(t)

	checked, bad, keys, _ := verify(t, e, false)
	if checked != 5 || bad != 0 || len(keys) != 0 {
		t.Fatalf("Verify after the copy: %d checked, %d mismatches %v; want 5 checked, none", checked, bad, keys)
	}
	for _, r := range e.rows(t) {
		if r.Verify.Status != planner.VerifyOK {
			t.Errorf("%s@%s: verify recorded %q %q, want ok", r.Key, r.VersionID, r.Verify.Status, r.Verify.Message)
		}
	}

	// With content: both sides read in full, SSE-C with their keys.
	before := len(f.Requests())
	if checked, bad, keys, _ := verify(t, e, true); checked != 5 || bad != 0 {
		t.Fatalf("Verify --content after the copy: %d checked, %d mismatches %v", checked, bad, keys)
	}
	var srcGet, dstGet []s3fake.Request
	for _, r := range f.Requests()[before:] {
		switch {
		case r.Op == "GetObject" && r.Key == "data/s.txt":
			srcGet = append(srcGet, r)
		case r.Op == "GetObject" && r.Key == "backup/s.txt":
			dstGet = append(dstGet, r)
		}
	}
	if len(srcGet) != 1 || srcGet[0].Client != srcClient || srcGet[0].Header.Get(hSSEC+"key-MD5") != keyA.MD5 ||
		len(dstGet) != 1 || dstGet[0].Client != dstClient || dstGet[0].Header.Get(hSSEC+"key-MD5") != keyR.MD5 {
		t.Errorf("content check of s.txt: source GETs %v, replica GETs %v; want one each, with key-a and key-r",
			s3fake.Describe(srcGet), s3fake.Describe(dstGet))
	}
	if r := e.row(t, "data/s.txt", "s1"); r.Verify.Status != planner.VerifyOK || !strings.Contains(r.Verify.Message, "SHA-256") {
		t.Errorf("s.txt content check recorded %q %q, want ok naming the SHA-256", r.Verify.Status, r.Verify.Message)
	}

	// Break three replicas.
	a, b := e.row(t, "data/a.txt", "a1"), e.row(t, "data/b.txt", "b1")
	f.Put(dstBucket, "backup/a.txt", s3fake.Object{VersionID: a.Replica.VersionID, Data: []byte("ALPHA")})
	if _, err := f.Client(dstClient).DeleteObject(context.Background(), &s3.DeleteObjectInput{
		Bucket: aws.String(dstBucket), Key: aws.String("backup/b.txt"), VersionId: aws.String(b.Replica.VersionID)}); err != nil {
		t.Fatal(err)
	}
	sr := replicas(f, "backup/s.txt")[0]
	f.Put(dstBucket, "backup/s.txt", s3fake.Object{VersionID: sr.VersionID, Data: []byte("SIERRA"), ETag: sr.ETag, Header: keyR.Header()})

	checked, bad, keys, ms := verify(t, e, false)
	if checked != 5 || bad != 2 || !slices.Equal(keys, []string{"data/a.txt", "data/b.txt"}) {
		t.Fatalf("Verify: %d checked, %d mismatches %v; want 5 checked, a.txt and b.txt (s.txt kept its size and ETag)", checked, bad, keys)
	}
	for _, m := range ms {
		if m.SourceBucket != srcBucket || m.Row.Dest != dstBucket || !strings.Contains(m.String(), "s3://src/"+m.Row.Key) ||
			!strings.Contains(m.String(), m.Row.Replica.VersionID) {
			t.Errorf("mismatch %q: want it to name the source and the replica version", m)
		}
	}
	rows := byVersion(e.rows(t))
	for kv, want := range map[string]string{"data/a.txt@a1": "ETag", "data/b.txt@b1": "gone"} {
		if v := rows[kv].Verify; v.Status != planner.VerifyMismatch || !strings.Contains(v.Message, want) {
			t.Errorf("%s: verify recorded %q %q, want a mismatch saying %q", kv, v.Status, v.Message, want)
		}
	}
	if v := rows["data/s.txt@s1"].Verify; v.Status != planner.VerifyOK {
		t.Errorf("s.txt without --content: %q %q, want ok (size and ETag unchanged)", v.Status, v.Message)
	}

	checked, bad, keys, _ = verify(t, e, true)
	if checked != 5 || bad != 3 || !slices.Equal(keys, []string{"data/a.txt", "data/b.txt", "data/s.txt"}) {
		t.Fatalf("Verify --content: %d checked, %d mismatches %v; want a.txt, b.txt and s.txt", checked, bad, keys)
	}
	if v := e.row(t, "data/s.txt", "s1").Verify; v.Status != planner.VerifyMismatch || !strings.Contains(v.Message, "content differs") {
		t.Errorf("s.txt with --content: %q %q, want a mismatch: content differs", v.Status, v.Message)
	}
	if v := e.row(t, "data/gone", "gdm").Verify; v.Status != planner.VerifyOK {
		t.Errorf("delete marker verify %q %q, want ok", v.Status, v.Message)
	}
}
