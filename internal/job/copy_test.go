package job_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// seedCopy seeds a source for the copy tests: three plaintext versions of
// one key, SSE-S3, SSE-KMS, SSE-C under key-a (replicas under key-r) and
// key-x (no key), a version then a delete marker, a multipart source and a
// large object. It returns the content by "key@version".
func seedCopy(f *s3fake.Server) map[string][]byte {
	data := map[string][]byte{}
	add := func(key, vid string, b []byte, h map[string]string) { data[key+"@"+vid] = put(f, key, vid, b, h) }
	add("data/a.txt", "a1", []byte("one"), nil)
	add("data/a.txt", "a2", []byte("two!"), nil)
	add("data/a.txt", "a3", []byte("three"), nil)
	add("data/s3.txt", "s1", []byte("sse-s3 data"), map[string]string{hSSE: "AES256"})
	add("data/kms.txt", "k1", []byte("kms data"), map[string]string{hSSE: "aws:kms", hKMSKey: srcKMSKey})
	add("data/ssec-a.txt", "ca1", []byte("secret a"), keyA.Header())
	add("data/ssec-x.txt", "cx1", []byte("secret x"), keyX.Header())
	add("data/gone", "g1", []byte("gone"), nil)
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "gdm", DeleteMarker: true})
	f.Put(srcBucket, "data/mp.bin", s3fake.Object{VersionID: "m1", Size: 5*mib + 1024, PartSizes: []int64{5 * mib, 1024}})
	data["data/mp.bin@m1"] = s3fake.Fill(5*mib + 1024)
	f.Put(srcBucket, "data/large.bin", s3fake.Object{VersionID: "l1", Size: 9 * mib})
	data["data/large.bin@l1"] = s3fake.Fill(9 * mib)
	return data
}

// copySpec is testSpec with KMS replication and delete markers on.
func copySpec(f *s3fake.Server) job.Spec {
	spec := testSpec(f, "data", "backup")
	spec.ReplicateKMS, spec.ReplicaKMSKeyID, spec.DeleteMarkers = true, replicaKMSKey, true
	return spec
}

// TestCopyReplicatesEveryVersion: after Scan, Plan and Copy the destination
// holds exactly one replica per replicated version, oldest first per key,
// with the source's bytes and the planned encryption, and the checkpoint
// records each outcome with its replica version.
func TestCopyReplicatesEveryVersion(t *testing.T) {
	f := newFake(t)
	data := seedCopy(f)
	e := openEnv(t, f, copySpec(f), options{keys: testRing(t)}) // no Progress, no Traffic
	e.run(t)

	rows := e.rows(t)
	for _, r := range rows {
		kv := r.Key + "@" + r.VersionID
		if r.Key == "data/ssec-x.txt" {
			if r.Status != planner.StatusFailed || r.ErrorCode != planner.CodeSSECKeyNotFound {
				t.Errorf("%s: %s %s, want failed %s", kv, r.Status, r.ErrorCode, planner.CodeSSECKeyNotFound)
			}
			continue
		}
		if r.Status != planner.StatusSucceeded || r.Replica.VersionID == "" || r.Attempts != 1 {
			t.Errorf("%s: %s (%s %s), replica %q, %d attempts; want succeeded with a replica version, 1 attempt",
				kv, r.Status, r.ErrorCode, r.Message, r.Replica.VersionID, r.Attempts)
		}
	}
	if n, err := e.job.Failed(context.Background()); err != nil || n != 1 {
		t.Errorf("Failed() = %d, %v; want 1 (ssec-x.txt)", n, err)
	}

	// Replicas: one per version, oldest first, each the version the
	// checkpoint names, with the source's bytes.
	byKey := map[string][]planner.Row{}
	for _, r := range rows {
		if r.Status == planner.StatusSucceeded {
			byKey[r.DestKey] = append(byKey[r.DestKey], r) // EachRow: oldest first
		}
	}
	for destKey, want := range byKey {
		got := replicas(f, destKey)
		if len(got) != len(want) {
			t.Errorf("%s: %d destination versions, want %d", destKey, len(got), len(want))
			continue
		}
		for i, r := range want {
			g := got[i]
			if g.VersionID != r.Replica.VersionID {
				t.Errorf("%s: destination version %d is %s, the checkpoint says %s@%s went to %s",
					destKey, i, g.VersionID, r.Key, r.VersionID, r.Replica.VersionID)
			}
			if g.DeleteMarker != r.DeleteMarker {
				t.Errorf("%s: destination version %d delete marker %v, source %v", destKey, i, g.DeleteMarker, r.DeleteMarker)
			}
			if !r.DeleteMarker && !bytes.Equal(g.Data, data[r.Key+"@"+r.VersionID]) {
				t.Errorf("%s: destination version %d does not hold the bytes of %s@%s", destKey, i, r.Key, r.VersionID)
			}
		}
	}
	if vs := f.Versions(dstBucket, "backup/ssec-x.txt"); len(vs) != 0 {
		t.Errorf("the version no key opens was written: %d destination versions", len(vs))
	}

	// Encryption of the replicas, as the destination stored them.
	enc := func(key string) map[string]string { return replicas(f, key)[0].Header }
	if h := enc("backup/s3.txt"); h["X-Amz-Server-Side-Encryption"] != "AES256" {
		t.Errorf("SSE-S3 replica headers %v", h)
	}
	if h := enc("backup/kms.txt"); h["X-Amz-Server-Side-Encryption"] != "aws:kms" ||
		h["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"] != replicaKMSKey {
		t.Errorf("SSE-KMS replica headers %v, want aws:kms under %s", h, replicaKMSKey)
	}
	if h := enc("backup/ssec-a.txt"); h["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != keyR.MD5 {
		t.Errorf("SSE-C replica key MD5 %q, want key-r's (key-a's replica_key)", h["X-Amz-Server-Side-Encryption-Customer-Key-Md5"])
	}
	if h := enc("backup/a.txt"); h["X-Amz-Server-Side-Encryption"] != "" || h["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != "" {
		t.Errorf("plaintext replica got encryption headers %v", h)
	}

	// The multipart source is replayed part for part (same ETag); the
	// large object is cut at the part size.
	mp, src := replicas(f, "backup/mp.bin")[0], f.Versions(srcBucket, "data/mp.bin")[0]
	if !slices.Equal(mp.PartSizes, []int64{5 * mib, 1024}) || mp.ETag != src.ETag {
		t.Errorf("mp.bin replica: parts %v ETag %s; want the source's parts [5MiB 1024] and ETag %s", mp.PartSizes, mp.ETag, src.ETag)
	}
	if l := replicas(f, "backup/large.bin")[0]; !slices.Equal(l.PartSizes, []int64{5 * mib, 4 * mib}) {
		t.Errorf("large.bin replica parts %v, want [5MiB 4MiB]", l.PartSizes)
	}

	// ETag status as recorded.
	m := byVersion(rows)
	for kv, want := range map[string]string{
		"data/a.txt@a1": planner.ETagMatch, "data/s3.txt@s1": planner.ETagMatch, "data/mp.bin@m1": planner.ETagMatch,
		"data/ssec-a.txt@ca1": planner.ETagDiffersExpected, "data/kms.txt@k1": planner.ETagDiffersExpected,
		"data/large.bin@l1": planner.ETagDiffersExpected,
	} {
		if got := m[kv].Replica.ETagStatus; got != want {
			t.Errorf("%s: ETag status %q, want %q", kv, got, want)
		}
	}
	if r := m["data/ssec-a.txt@ca1"]; r.Replica.Encryption != planner.SSEC {
		t.Errorf("ssec-a.txt: replica encryption read back %q, want SSE-C", r.Replica.Encryption)
	}

	// Requests: one CopyObject per single-part version, one completed
	// upload per multipart one, every write by the destination client.
	wantCopies := map[string]int{"data/a.txt@a1": 1, "data/a.txt@a2": 1, "data/a.txt@a3": 1, "data/s3.txt@s1": 1,
		"data/kms.txt@k1": 1, "data/ssec-a.txt@ca1": 1, "data/gone@g1": 1}
	if got := copyObjects(f); !maps.Equal(got, wantCopies) {
		t.Errorf("CopyObject by source version: %v\nwant %v", got, wantCopies)
	}
	for _, key := range []string{"backup/mp.bin", "backup/large.bin"} {
		if n := opsOn(f, "CompleteMultipartUpload", dstBucket, key); n != 1 {
			t.Errorf("%s: %d CompleteMultipartUpload, want 1", key, n)
		}
	}
	if n := opsOn(f, "DeleteObject", dstBucket, "backup/gone"); n != 1 {
		t.Errorf("%d DeleteObject on backup/gone, want 1 (the delete marker replayed)", n)
	}
	for _, r := range f.Requests() {
		write := r.Method != "GET" && r.Method != "HEAD"
		if write && (r.Client != dstClient || r.Bucket != dstBucket) {
			t.Errorf("%s on %s by %s: every write goes to the destination by its client", r.Op, r.Bucket, r.Client)
		}
	}
	cp := f.Ops("CopyObject")
	for _, r := range cp {
		if _, key, _ := copySourceOf(r); key == "data/ssec-a.txt" {
			if r.Header.Get("x-amz-copy-source-server-side-encryption-customer-key-MD5") != keyA.MD5 ||
				r.Header.Get(hSSEC+"key-MD5") != keyR.MD5 {
				t.Errorf("copy of ssec-a.txt: source key MD5 %q, replica key MD5 %q; want key-a's, key-r's",
					r.Header.Get("x-amz-copy-source-server-side-encryption-customer-key-MD5"), r.Header.Get(hSSEC+"key-MD5"))
			}
		}
	}
	if u := f.Uploads(dstBucket); len(u) != 0 {
		t.Errorf("uploads left on the destination: %+v", u)
	}
	if u, err := e.db.Uploads(context.Background()); err != nil || len(u) != 0 {
		t.Errorf("uploads left in the checkpoint: %+v, %v", u, err)
	}

	// A second Copy has nothing to do.
	before := len(f.Requests())
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("second Copy: %v", err)
	}
	if after := f.Requests()[before:]; len(after) != 0 {
		t.Errorf("a second Copy sent %v", s3fake.Describe(after))
	}
}

// recProgress records the phases metered and what each counted.
type recProgress struct {
	mu     sync.Mutex
	meters []*recMeter
}

type recMeter struct {
	phase               string
	total, totalBytes   int64
	mu                  sync.Mutex
	done, bytes, failed int64
	finished            int
}

func (p *recProgress) Start(phase, _ string, total, totalBytes int64) job.Meter {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &recMeter{phase: phase, total: total, totalBytes: totalBytes}
	p.meters = append(p.meters, m)
	return m
}

func (m *recMeter) Done(n int, bytes int64, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += int64(n)
	m.bytes += bytes
	if failed {
		m.failed += int64(n)
	}
}

func (m *recMeter) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished++
}

// TestCopyMetersProgress: each phase is metered once and finished; the
// copy meter's totals are the work, and every task is counted done.
func TestCopyMetersProgress(t *testing.T) {
	f := newFake(t)
	put(f, "data/a.txt", "a1", []byte("one"), nil)
	put(f, "data/a.txt", "a2", []byte("two!"), nil)
	put(f, "data/b.txt", "b1", []byte("bee"), nil)
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if _, key, _ := copySourceOf(r); r.Op == "CopyObject" && key == "data/b.txt" {
			return s3fake.Error(403, "AccessDenied")
		}
		return nil
	})
	p := &recProgress{}
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{progress: p})
	e.run(t)
	var phases []string
	for _, m := range p.meters {
		phases = append(phases, m.phase)
		if m.finished != 1 {
			t.Errorf("phase %s finished %d times, want 1", m.phase, m.finished)
		}
	}
	if !slices.Equal(phases, []string{"scan", "plan", "copy"}) {
		t.Fatalf("phases metered %v, want scan, plan, copy", phases)
	}
	scan, plan, cp := p.meters[0], p.meters[1], p.meters[2]
	if scan.done != 3 || plan.total != 3 || plan.done != 3 {
		t.Errorf("scan counted %d, plan %d of %d; want 3", scan.done, plan.done, plan.total)
	}
	if cp.total != 3 || cp.totalBytes != 10 || cp.done != 3 || cp.bytes != 10 || cp.failed != 1 {
		t.Errorf("copy meter: total %d (%d bytes), done %d (%d bytes), %d failed; want 3 (10 bytes), all done, 1 failed",
			cp.total, cp.totalBytes, cp.done, cp.bytes, cp.failed)
	}
	if r := e.row(t, "data/b.txt", "b1"); r.Status != planner.StatusFailed || r.ErrorCode != "AccessDenied" || r.HTTPStatus != 403 {
		t.Errorf("b.txt: %s %s %d, want failed AccessDenied 403", r.Status, r.ErrorCode, r.HTTPStatus)
	}
	if n, err := e.job.Failed(context.Background()); err != nil || n != 1 {
		t.Errorf("Failed() = %d, %v; want 1", n, err)
	}
}
