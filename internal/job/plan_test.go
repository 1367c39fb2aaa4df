package job_test

import (
	"context"
	"maps"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

const (
	srcKMSKey     = "arn:aws:kms:us-east-1:111122223333:key/src"
	replicaKMSKey = "arn:aws:kms:us-east-1:111122223333:key/replica"
)

// seedMixed seeds a source of every kind under data/ (and one key outside
// it): plaintext, SSE-S3, SSE-KMS with a Bucket Key, SSE-C under key-a,
// key-b and key-x (which no ring holds), a version then a delete marker, a
// small multipart source and a large single-part object.
func seedMixed(f *s3fake.Server) {
	put(f, "data/plain.txt", "p1", []byte("plain"), nil)
	put(f, "data/s3.txt", "s1", []byte("sse-s3"), map[string]string{hSSE: "AES256"})
	put(f, "data/kms.txt", "k1", []byte("kms"), map[string]string{hSSE: "aws:kms", hKMSKey: srcKMSKey,
		"x-amz-server-side-encryption-bucket-key-enabled": "true"})
	put(f, "data/ssec-a.txt", "ca1", []byte("secret a"), keyA.Header())
	put(f, "data/ssec-b.txt", "cb1", []byte("secret b"), keyB.Header())
	put(f, "data/ssec-x.txt", "cx1", []byte("secret x"), keyX.Header())
	put(f, "data/gone", "g1", []byte("gone"), nil)
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "gdm", DeleteMarker: true})
	// Below the 8 MiB threshold, but uploaded in two parts.
	f.Put(srcBucket, "data/mp.bin", s3fake.Object{VersionID: "m1", Size: 5*mib + 1024, PartSizes: []int64{5 * mib, 1024}})
	f.Put(srcBucket, "data/large.bin", s3fake.Object{VersionID: "l1", Size: 9 * mib})
	put(f, "other/outside.txt", "o1", []byte("not under the source prefix"), nil)
}

// TestPlanDecidesEachKind: every kind of source version gets the plan S3
// replication's rules give it, with the destination prefix mapped, and
// inspection costs one HEAD per version plus one per SSE-C key tried.
func TestPlanDecidesEachKind(t *testing.T) {
	f := newFake(t)
	seedMixed(f)
	spec := testSpec(f, "data", "backup")
	// One version at a time: which key is tried first depends on what the
	// versions planned before it learned (see planner.KeyRing.Order).
	spec.Workers = 1
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	st := e.scanPlan(t)
	if st.Seen != 10 || st.Added != 10 {
		t.Errorf("scan: %+v, want the 10 versions and delete markers under data/ (other/ left out)", st)
	}
	rows := byVersion(e.rows(t))
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10: %v", len(rows), rows)
	}
	type want struct {
		status     planner.Status
		action     planner.Action
		enc        planner.Encryption
		replicaEnc planner.Encryption
		keyID      string // SSE-C key that opened it
		replicaKey string // SSE-C key of the replica
		code, msg  string
	}
	for kv, w := range map[string]want{
		"data/plain.txt@p1": {status: planner.StatusPending, action: planner.Copy, enc: planner.NotSSE},
		"data/s3.txt@s1":    {status: planner.StatusPending, action: planner.Copy, enc: planner.SSES3, replicaEnc: planner.SSES3},
		"data/kms.txt@k1":   {status: planner.StatusSkipped, action: planner.Skip, enc: planner.SSEKMS, msg: planner.ReasonKMSNotEnabled},
		"data/ssec-a.txt@ca1": {status: planner.StatusPending, action: planner.Copy, enc: planner.SSEC, replicaEnc: planner.SSEC,
			keyID: keyA.ID, replicaKey: keyR.ID},
		"data/ssec-b.txt@cb1": {status: planner.StatusPending, action: planner.Copy, enc: planner.SSEC, replicaEnc: planner.SSEC,
			keyID: keyB.ID, replicaKey: keyB.ID},
		"data/ssec-x.txt@cx1": {status: planner.StatusFailed, action: planner.Fail, enc: planner.SSEC,
			code: planner.CodeSSECKeyNotFound, msg: planner.ReasonNoKeyOpensVersion},
		"data/gone@g1":      {status: planner.StatusPending, action: planner.Copy, enc: planner.NotSSE},
		"data/gone@gdm":     {status: planner.StatusSkipped, action: planner.Skip, msg: planner.ReasonDeleteMarkersDisabled},
		"data/mp.bin@m1":    {status: planner.StatusPending, action: planner.Multipart, enc: planner.NotSSE},
		"data/large.bin@l1": {status: planner.StatusPending, action: planner.Multipart, enc: planner.NotSSE},
	} {
		r, ok := rows[kv]
		if !ok {
			t.Errorf("%s: no row", kv)
			continue
		}
		got := want{status: r.Status, action: r.Action, enc: r.Encryption, replicaEnc: r.ReplicaEncryption,
			keyID: r.SSECKeyID, replicaKey: r.ReplicaSSECKeyID, code: r.ErrorCode, msg: r.Message}
		if got != w {
			t.Errorf("%s: planned %+v\nwant %+v", kv, got, w)
		}
		if wantKey := "backup/" + r.Key[len("data/"):]; r.DestKey != wantKey || r.Dest != dstBucket {
			t.Errorf("%s: destination %s/%s, want %s/%s", kv, r.Dest, r.DestKey, dstBucket, wantKey)
		}
		if !r.DeleteMarker && !r.Inspected {
			t.Errorf("%s: not marked inspected", kv)
		}
	}
	if r := rows["data/kms.txt@k1"]; r.KMSKeyID != srcKMSKey || !r.BucketKey {
		t.Errorf("kms.txt: inspection kept KMS key %q, bucket key %v; want %q, true", r.KMSKeyID, r.BucketKey, srcKMSKey)
	}

	// One HEAD per version (none for the delete marker), plus one per key
	// tried on SSE-C versions: file order key-a, key-b, key-r (ssec-b.txt
	// tries key-a first: it opened data/ssec-a.txt in the same folder).
	heads := map[string]int{}
	for _, r := range f.Ops("HeadObject") {
		if r.Client != srcClient || r.Bucket != srcBucket {
			t.Errorf("HEAD by %s of %s/%s: inspection reads the source with the source client", r.Client, r.Bucket, r.Key)
		}
		heads[r.Key]++
	}
	wantHeads := map[string]int{"data/plain.txt": 1, "data/s3.txt": 1, "data/kms.txt": 1, "data/ssec-a.txt": 2,
		"data/ssec-b.txt": 3, "data/ssec-x.txt": 4, "data/gone": 1, "data/mp.bin": 1, "data/large.bin": 1}
	if !maps.Equal(heads, wantHeads) {
		t.Errorf("HEADs by key: %v\nwant %v", heads, wantHeads)
	}
	// The HEAD that opened ssec-b.txt carried key-b, and the keyless one came first.
	var bHeads []string
	for _, r := range f.Ops("HeadObject") {
		if r.Key == "data/ssec-b.txt" {
			bHeads = append(bHeads, r.Header.Get(hSSEC+"key-MD5"))
		}
	}
	if len(bHeads) != 3 || bHeads[0] != "" || bHeads[1] != keyA.MD5 || bHeads[2] != keyB.MD5 {
		t.Errorf("HEADs of ssec-b.txt carried key MD5s %q, want none, key-a's, key-b's", bHeads)
	}
	for _, r := range f.Requests() {
		if r.Bucket == dstBucket || r.Client == dstClient {
			t.Errorf("scan and plan sent %s to %s by %s: they only read the source", r.Op, r.Bucket, r.Client)
		}
	}

	// A second Plan does not inspect again what it inspected, except the
	// SSE-C version no key opened (the key file may have changed).
	before := len(f.Ops("HeadObject"))
	if err := e.job.Plan(context.Background()); err != nil {
		t.Fatalf("second Plan: %v", err)
	}
	again := f.Ops("HeadObject")[before:]
	if len(again) != 4 {
		t.Errorf("second Plan sent %d HEADs, want the 4 of ssec-x.txt: %v", len(again), s3fake.Describe(again))
	}
	for _, r := range again {
		if r.Key != "data/ssec-x.txt" {
			t.Errorf("second Plan HEADed %s again", r.Key)
		}
	}
}

// TestPlanWithKMSAndDeleteMarkers: with --replicate-kms and a replica key,
// the SSE-KMS version is planned under that key (its Bucket Key kept), and
// with delete markers on the marker is replayed.
func TestPlanWithKMSAndDeleteMarkers(t *testing.T) {
	f := newFake(t)
	seedMixed(f)
	spec := testSpec(f, "data", "backup")
	spec.ReplicateKMS, spec.ReplicaKMSKeyID, spec.DeleteMarkers = true, replicaKMSKey, true
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	e.scanPlan(t)
	rows := byVersion(e.rows(t))
	k := rows["data/kms.txt@k1"]
	if k.Status != planner.StatusPending || k.Action != planner.Copy || k.ReplicaEncryption != planner.SSEKMS ||
		k.ReplicaKMSKeyID != replicaKMSKey || !k.ReplicaBucketKey {
		t.Errorf("kms.txt planned %s %s, replica %s %q bucket key %v; want pending copy SSE-KMS %q with a bucket key",
			k.Status, k.Action, k.ReplicaEncryption, k.ReplicaKMSKeyID, k.ReplicaBucketKey, replicaKMSKey)
	}
	if d := rows["data/gone@gdm"]; d.Status != planner.StatusPending || d.Action != planner.ReplayDelete || d.DestKey != "backup/gone" {
		t.Errorf("delete marker planned %s %s -> %s, want pending delete-marker -> backup/gone", d.Status, d.Action, d.DestKey)
	}
	if n := opsOn(f, "HeadObject", srcBucket, "data/gone"); n != 1 {
		t.Errorf("%d HEADs of data/gone, want 1 (a delete marker is not inspected)", n)
	}
}

// TestPlanAfterKeyAdded: a version no key opened is planned once the key
// ring holds its key (the same checkpoint, reopened with another ring).
func TestPlanAfterKeyAdded(t *testing.T) {
	f := newFake(t)
	seedMixed(f)
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{keys: testRing(t)})
	e.scanPlan(t)
	if r := e.row(t, "data/ssec-x.txt", "cx1"); r.Status != planner.StatusFailed {
		t.Fatalf("ssec-x.txt %s before its key was added, want failed", r.Status)
	}
	ring, err := planner.ParseKeyFile(stringsReader(`{"keys": [{"id": %q, "key": %q}]}`, keyX.ID, keyX.B64))
	if err != nil {
		t.Fatal(err)
	}
	e.opts.keys = ring
	e.reopen(t)
	if err := e.job.Plan(context.Background()); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	r := e.row(t, "data/ssec-x.txt", "cx1")
	if r.Status != planner.StatusPending || r.Action != planner.Copy || r.SSECKeyID != keyX.ID || r.ReplicaSSECKeyID != keyX.ID ||
		r.ErrorCode != "" {
		t.Errorf("ssec-x.txt after its key was added: %s %s key %q replica key %q code %q; want pending copy with key-x",
			r.Status, r.Action, r.SSECKeyID, r.ReplicaSSECKeyID, r.ErrorCode)
	}
}
