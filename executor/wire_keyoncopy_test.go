package executor

import (
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// keyOnCopyTask is an SSE-C version whose key the plan left to the copy.
func keyOnCopyTask(id int64, vid string) planner.Task {
	return planner.Task{ID: id, Version: planner.Version{VersionID: vid, Size: 100, ETag: `"e"`, StorageClass: "STANDARD"},
		Inspection: planner.Inspection{Inspected: true, From: planner.FactsManifest, Encryption: planner.SSEC},
		Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC}}
}

// TestCopyTryingKeys: the candidate keys are tried on the CopyObject
// itself, in the key file's order (key A maps its replicas to key B); a
// 403 moves to the next key, the keys that worked are in the outcome, and
// a version no key opens fails SrcSSECKeyNotFound after one pass.
func TestCopyTryingKeys(t *testing.T) {
	other := s3fake.NewKey("not-in-the-file")
	for _, tc := range []struct {
		name             string
		sourceKey        s3fake.Key
		tried            []s3fake.Key // copy-source keys, in order
		srcID, dstID     string       // the keys recorded; "" = failed
		wantReplicaUnder s3fake.Key
	}{
		{"second key", keyB, []s3fake.Key{keyA, keyB}, keyB.ID, keyB.ID, keyB},
		{"first key, re-keyed", keyA, []s3fake.Key{keyA}, keyA.ID, keyB.ID, keyB},
		{"no key opens it", other, []s3fake.Key{keyA, keyB}, "", "", s3fake.Key{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.source("docs/a.txt", "v1", 100, tc.sourceKey.Header())
			h.run(t, planner.KeyWork{Key: "docs/a.txt", Tasks: []planner.Task{keyOnCopyTask(1, "v1")}})
			copies := h.fake.Ops("CopyObject")
			if len(copies) != len(tc.tried) {
				t.Fatalf("%d CopyObject, want %d: %v", len(copies), len(tc.tried), s3fake.Describe(h.fake.Requests()))
			}
			for i, k := range tc.tried {
				wantSSEC(t, copies[i], copySSECPrefx, k)
			}
			if n := len(h.fake.Ops("HeadObject")); n > 1 {
				t.Errorf("%d HEADs: the keys must be tried on the copy, not by HEAD", n)
			}
			o := h.store.outcome(t, 1)
			if tc.srcID == "" {
				if o.Status != planner.StatusFailed || o.ErrorCode != planner.CodeSSECKeyNotFound {
					t.Errorf("outcome %+v, want failed %s", o, planner.CodeSSECKeyNotFound)
				}
				if vs := h.fake.Versions(dstBucket, "docs/a.txt"); len(vs) != 0 {
					t.Errorf("%d replicas made of a version no key opens", len(vs))
				}
				return
			}
			if o.Status != planner.StatusSucceeded || o.SSECKeyID != tc.srcID || o.ReplicaSSECKeyID != tc.dstID {
				t.Errorf("outcome %+v, want succeeded with keys %s -> %s", o, tc.srcID, tc.dstID)
			}
			wantSSEC(t, copies[len(copies)-1], ssecPrefix, tc.wantReplicaUnder)
			if r := h.replica(t, "docs/a.txt"); r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != tc.wantReplicaUnder.MD5 {
				t.Errorf("replica under key MD5 %s, want %s", r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"], tc.wantReplicaUnder.ID)
			}
		})
	}
}

// TestKeyOnCopyInDoubt: a run that stopped after such a copy (the
// replica is on the destination, the outcome never recorded) is
// reconciled without a second copy: the replica's key is found by
// reading it back, and recorded.
func TestKeyOnCopyInDoubt(t *testing.T) {
	h := newHarness(t)
	h.source("r", "v1", 100, keyA.Header())
	seedDest(t, h, destSeed{key: "r", vid: "dv-new", size: 100, modified: "2026-03-01T10:00:05.000Z"})
	task := keyOnCopyTask(1, "v1")
	task.Status, task.ClaimedAt = planner.StatusCopying, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	h.run(t, planner.KeyWork{Key: "r", Tasks: []planner.Task{task}})
	if cs := h.fake.Ops("CopyObject"); len(cs) != 0 {
		t.Fatalf("copied again: %v", s3fake.Describe(cs))
	}
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != "dv-new" || o.ReplicaSSECKeyID != keyB.ID || o.SSECKeyID != keyA.ID {
		t.Errorf("outcome %+v, want dv-new adopted with keys %s -> %s", o, keyA.ID, keyB.ID)
	}
}

// TestKeyOnCopyNoKeyDoesNotHoldBack: a version no key opens is passed
// over, as when its plan found no key; the key's newer versions are
// copied (a version failing any other way holds them back).
func TestKeyOnCopyNoKeyDoesNotHoldBack(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 100, s3fake.NewKey("not-in-the-file").Header())
	h.source("k", "v2", 50, nil)
	newer := planner.Task{ID: 2, Version: planner.Version{VersionID: "v2", Size: 50, ETag: `"e2"`, StorageClass: "STANDARD"},
		Inspection: planner.Inspection{Inspected: true, Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{keyOnCopyTask(1, "v1"), newer}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed || o.ErrorCode != planner.CodeSSECKeyNotFound {
		t.Errorf("v1: %+v, want failed %s", o, planner.CodeSSECKeyNotFound)
	}
	if o := h.store.outcome(t, 2); o.Status != planner.StatusSucceeded {
		t.Errorf("v2: %+v, want copied", o)
	}
}
