package executor

import (
	"net/http"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// endpointLacking answers as an endpoint without some server-side copies
// of SSE-C sources: CopyObject 501 NotImplemented (Ceph RGW); with
// noPartCopy UploadPartCopy 501 as well; with rekeyRefused a part copy
// under another key than the source's 400 InvalidArgument (RGW, which
// decrypts with the replica's key).
func endpointLacking(f *s3fake.Server, noPartCopy, rekeyRefused bool) {
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Header.Get("x-amz-copy-source-server-side-encryption-customer-algorithm") == "" {
			return nil
		}
		switch {
		case r.Op == "CopyObject", r.Op == "UploadPartCopy" && noPartCopy:
			return s3fake.Error(http.StatusNotImplemented, "NotImplemented")
		case r.Op == "UploadPartCopy" && rekeyRefused &&
			r.Header.Get("x-amz-copy-source-server-side-encryption-customer-key-MD5") != r.Header.Get("x-amz-server-side-encryption-customer-key-MD5"):
			return s3fake.Error(http.StatusBadRequest, "InvalidArgument")
		}
		return nil
	})
}

func ssecTask(id int64, vid string) planner.Task {
	return planner.Task{ID: id, Version: planner.Version{VersionID: vid, Size: 100, ETag: `"e"`, StorageClass: "STANDARD"},
		Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID},
		Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}}
}

// TestCapabilityLearned: on an endpoint that lacks server-side copies of
// SSE-C sources, a version is copied by the next way that works: in parts
// with UploadPartCopy (still server-side) where only CopyObject is lacking,
// else streamed through this machine under --copy-mode auto; the report
// says why. The next SSE-C version goes that way at once, without asking
// again; plain versions still copy with CopyObject. Under --copy-mode
// server a version only streaming could copy fails with the reason, once
// (501 is not a transient error).
func TestCapabilityLearned(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		noPartCopy, rekeyRefused bool
		// how: the auto run's message; partCopies: its UploadPartCopy
		// requests; puts: its streamed uploads; server: --copy-mode
		// server's failure ("" = it succeeds as auto does).
		how              string
		partCopies, puts int
		server           string
		serverCode       string
		serverHTTP       int
	}{
		{name: "CopyObject lacking", how: "copied by UploadPartCopy (1 parts); in parts: this endpoint does not implement CopyObject of SSE-C sources",
			partCopies: 2},
		{name: "no server-side copy", noPartCopy: true, how: "streamed: this endpoint does not implement server-side copy of SSE-C sources",
			partCopies: 1, puts: 2, server: "this endpoint does not implement server-side copy of SSE-C sources (--copy-mode server",
			serverCode: "NotImplemented", serverHTTP: 501},
		{name: "re-keyed parts refused", rekeyRefused: true, how: "streamed: this endpoint does not re-key SSE-C sources in server-side copies of parts",
			partCopies: 1, puts: 2, server: "this endpoint does not re-key SSE-C sources in server-side copies of parts (--copy-mode server",
			serverCode: "InvalidArgument", serverHTTP: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.StreamFallback = true
			endpointLacking(h.fake, tc.noPartCopy, tc.rekeyRefused)
			h.source("c", "v1", 100, keyA.Header())
			h.source("c", "v2", 100, keyA.Header())
			h.source("p", "p1", 100, nil)
			h.run(t, planner.KeyWork{Key: "c", Tasks: []planner.Task{ssecTask(1, "v1"), ssecTask(2, "v2")}})
			h.run(t, planner.KeyWork{Key: "p", Tasks: []planner.Task{{ID: 3, Version: planner.Version{VersionID: "p1", Size: 100, ETag: `"e"`},
				Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
			for _, id := range []int64{1, 2} {
				if o := h.store.outcome(t, id); o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, tc.how) {
					t.Errorf("version %d: %+v, want succeeded: %q", id, o, tc.how)
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
			if ssecCopies != 1 || plainCopies != 1 || len(h.fake.Ops("UploadPartCopy")) != tc.partCopies || len(h.fake.Ops("PutObject")) != tc.puts {
				t.Errorf("CopyObject of %d SSE-C versions (want the first only) and %d plain ones (want 1), %d UploadPartCopy (want %d), "+
					"%d streamed uploads (want %d)", ssecCopies, plainCopies, len(h.fake.Ops("UploadPartCopy")), tc.partCopies,
					len(h.fake.Ops("PutObject")), tc.puts)
			}
			for _, r := range h.fake.Ops("PutObject") {
				wantSSEC(t, r, ssecPrefix, keyB)
			}

			server := newHarness(t)
			endpointLacking(server.fake, tc.noPartCopy, tc.rekeyRefused)
			server.source("c", "v1", 100, keyA.Header())
			server.run(t, planner.KeyWork{Key: "c", Tasks: []planner.Task{ssecTask(1, "v1")}})
			o := server.store.outcome(t, 1)
			switch {
			case tc.server == "" && o.Status != planner.StatusSucceeded:
				t.Errorf("--copy-mode server: %+v, want succeeded (copying in parts is server-side)", o)
			case tc.server != "" && (o.Status != planner.StatusFailed || o.ErrorCode != tc.serverCode || o.HTTPStatus != tc.serverHTTP ||
				!strings.Contains(o.Message, tc.server) || strings.Contains(o.Message, "transient")):
				t.Errorf("--copy-mode server: %+v, want failed %s %d: %q", o, tc.serverCode, tc.serverHTTP, tc.server)
			}
			if n := len(server.fake.Ops("CopyObject")) + len(server.fake.Ops("UploadPartCopy")); n != 1+min(tc.partCopies, 1) {
				t.Errorf("%d copy requests: a refusal is not retried", n)
			}
		})
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

// TestReplicaKeyMismatch: the read-back compares the replica's KMS key and
// SSE-C key MD5 with those asked for; another key fails the version as
// ReplicaEncryptionMismatch, as its answer cannot be trusted either way.
func TestReplicaKeyMismatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string // what the replica's HEAD answers instead
		task   planner.Task
		says   string
	}{
		{name: "KMS key", header: map[string]string{"x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:1:key/other"},
			task: planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"e"`}, Inspection: planner.Inspection{Encryption: planner.SSEKMS},
				Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEKMS, ReplicaKMSKeyID: "replica"}},
			says: `the replica is under KMS key "arn:aws:kms:us-east-1:1:key/other", where "replica" was asked for`},
		{name: "SSE-C key", header: map[string]string{"x-amz-server-side-encryption-customer-key-MD5": keyA.MD5},
			task: ssecTask(1, "v1"), says: "the replica is under another SSE-C key than key-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.ReadBack = ReadBackAlways
			h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
				if r.Op != "HeadObject" || r.Bucket != dstBucket {
					return nil
				}
				rep := h.fake.Answer(r)
				for k, v := range tc.header {
					rep.Header.Set(k, v)
				}
				return rep
			})
			hdr := keyA.Header()
			if tc.task.Encryption == planner.SSEKMS {
				hdr = map[string]string{"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "source"}
			}
			h.source("k", "v1", 100, hdr)
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{tc.task}})
			if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed || o.ErrorCode != CodeEncryptionMismatch || !strings.Contains(o.Message, tc.says) {
				t.Errorf("outcome %+v, want failed %s: %q", o, CodeEncryptionMismatch, tc.says)
			}
		})
	}
}

func TestSameKMSKey(t *testing.T) {
	for _, tc := range []struct {
		got, asked string
		same       bool
	}{
		{"k1", "k1", true},
		{"arn:aws:kms:k1", "k1", true}, // MinIO
		{"arn:aws:kms:us-east-1:111122223333:key/1234", "1234", true},
		{"1234", "arn:aws:kms:us-east-1:111122223333:key/1234", true},
		{"arn:aws:kms:us-east-1:111122223333:key/1234", "alias/replica", true}, // cannot tell
		{"", "k1", true}, // named none
		{"k2", "k1", false},
		{"arn:aws:kms:us-east-1:111122223333:key/x1234", "1234", false},
		{"arn:aws:kms:k2", "k1", false},
	} {
		if got := sameKMSKey(tc.got, tc.asked); got != tc.same {
			t.Errorf("sameKMSKey(%q, %q) = %v, want %v", tc.got, tc.asked, got, tc.same)
		}
	}
}

// TestCapabilityEmptyVersion: an empty SSE-C version on an endpoint without
// CopyObject of SSE-C sources has no part to copy: --copy-mode auto streams
// it; server fails it with the reason (and does not loop).
func TestCapabilityEmptyVersion(t *testing.T) {
	for _, auto := range []bool{true, false} {
		h := newHarness(t)
		h.cfg.StreamFallback = auto
		endpointLacking(h.fake, false, false)
		h.source("c", "v1", 0, keyA.Header())
		task := ssecTask(1, "v1")
		task.Size = 0
		h.run(t, planner.KeyWork{Key: "c", Tasks: []planner.Task{task}})
		o := h.store.outcome(t, 1)
		switch {
		case auto && (o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, "streamed: this endpoint does not implement server-side copy of SSE-C sources")):
			t.Errorf("auto: %+v", o)
		case !auto && (o.Status != planner.StatusFailed || !strings.Contains(o.Message, "(--copy-mode server")):
			t.Errorf("server: %+v", o)
		}
		if n := len(h.fake.Ops("UploadPartCopy")); n != 0 {
			t.Errorf("%d UploadPartCopy of an empty version", n)
		}
	}
}
