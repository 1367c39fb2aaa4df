package executor

import (
	"net/http"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// rgwLike answers a CopyObject of an SSE-C or SSE-KMS source 501
// NotImplemented, as Ceph RGW does.
func rgwLike(f *s3fake.Server) {
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" && r.Header.Get("x-amz-copy-source-server-side-encryption-customer-algorithm") != "" {
			return s3fake.Error(http.StatusNotImplemented, "NotImplemented")
		}
		return nil
	})
}

func ssecTask(id int64, vid string) planner.Task {
	return planner.Task{ID: id, Version: planner.Version{VersionID: vid, Size: 100, ETag: `"e"`, StorageClass: "STANDARD"},
		Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID},
		Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}}
}

// TestCapabilityLearned: an endpoint that answers a server-side copy of an
// SSE-C source 501 NotImplemented: under --copy-mode auto the version is
// copied through this machine instead, and the report says why; the next
// SSE-C version goes that way at once, without asking again; plain
// versions still copy server-side. Under --copy-mode server it fails with
// the reason, once (501 is not a transient error).
func TestCapabilityLearned(t *testing.T) {
	h := newHarness(t)
	h.cfg.StreamFallback = true
	rgwLike(h.fake)
	h.source("c", "v1", 100, keyA.Header())
	h.source("c", "v2", 100, keyA.Header())
	h.source("p", "p1", 100, nil)
	h.run(t, planner.KeyWork{Key: "c", Tasks: []planner.Task{ssecTask(1, "v1"), ssecTask(2, "v2")}})
	h.run(t, planner.KeyWork{Key: "p", Tasks: []planner.Task{{ID: 3, Version: planner.Version{VersionID: "p1", Size: 100, ETag: `"e"`},
		Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
	for _, id := range []int64{1, 2} {
		o := h.store.outcome(t, id)
		if o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, "streamed: this endpoint does not implement server-side copy of SSE-C sources") {
			t.Errorf("version %d: %+v", id, o)
		}
	}
	var ssecCopies, plainCopies int
	for _, r := range h.fake.Ops("CopyObject") {
		if strings.Contains(r.Header.Get("x-amz-copy-source"), "/c?") {
			ssecCopies++
		} else {
			plainCopies++
		}
	}
	if ssecCopies != 1 || plainCopies != 1 || len(h.fake.Ops("PutObject")) != 2 {
		t.Errorf("%d server-side copies of SSE-C versions (want the first only), %d of plain ones (want 1), %d streamed uploads (want 2)",
			ssecCopies, plainCopies, len(h.fake.Ops("PutObject")))
	}
	for _, r := range h.fake.Ops("PutObject") {
		wantSSEC(t, r, ssecPrefix, keyB)
	}

	server := newHarness(t)
	rgwLike(server.fake)
	server.source("c", "v1", 100, keyA.Header())
	server.run(t, planner.KeyWork{Key: "c", Tasks: []planner.Task{ssecTask(1, "v1")}})
	o := server.store.outcome(t, 1)
	if o.Status != planner.StatusFailed || o.ErrorCode != "NotImplemented" || o.HTTPStatus != 501 ||
		!strings.Contains(o.Message, "this endpoint does not implement server-side copy of SSE-C sources (--copy-mode server") ||
		strings.Contains(o.Message, "transient") {
		t.Errorf("--copy-mode server: %+v", o)
	}
	if n := len(server.fake.Ops("CopyObject")); n != 1 {
		t.Errorf("%d CopyObject: a 501 is not retried", n)
	}
}

// TestEncryptionIgnored: an endpoint that accepts a copy's SSE-KMS headers
// and stores the replica unencrypted (as Ceph RGW does): the read-back
// finds it out, and the version fails ReplicaEncryptionMismatch.
func TestEncryptionIgnored(t *testing.T) {
	h := newHarness(t)
	h.cfg.ReadBack = ReadBackAlways
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" {
			r.Header.Del("x-amz-server-side-encryption")
			r.Header.Del("x-amz-server-side-encryption-aws-kms-key-id")
			return h.fake.Answer(r)
		}
		return nil
	})
	h.source("k", "v1", 100, nil)
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"e"`},
		Inspection: planner.Inspection{Encryption: planner.SSEKMS},
		Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEKMS, ReplicaKMSKeyID: "alias/replica"}}}})
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusFailed || o.ErrorCode != CodeEncryptionMismatch ||
		!strings.Contains(o.Message, "the replica is NOT-SSE, where SSE-KMS was asked for") {
		t.Errorf("outcome %+v, want failed %s", o, CodeEncryptionMismatch)
	}
}
