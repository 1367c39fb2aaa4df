package executor

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// TestCopyObjectSSEC checks the exact SSE-C headers of a CopyObject, with
// and without re-keying: the source key goes in the copy-source triple,
// the replica key in the plain triple, and nothing asks for SSE-S3/KMS.
func TestCopyObjectSSEC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replica s3fake.Key
	}{
		{"rotation A to B", keyB},
		{"same key", keyA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			data := h.source("docs/a.txt", "v1", 1000, keyA.Header())
			h.run(t, planner.KeyWork{Key: "docs/a.txt", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 1000, ETag: `"e"`, StorageClass: "STANDARD"}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: tc.replica.ID}, ID: 1}}})

			cp := h.fake.Only(t, "CopyObject")
			if cp.Client != dstClient || cp.Method != http.MethodPut || cp.Bucket != dstBucket || cp.Key != "docs/a.txt" {
				t.Errorf("CopyObject sent by %q as %s /%s/%s, want dst PUT /dst/docs/a.txt", cp.Client, cp.Method, cp.Bucket, cp.Key)
			}
			if got, want := cp.Header.Get("x-amz-copy-source"), "src/docs/a.txt?versionId=v1"; got != want {
				t.Errorf("x-amz-copy-source = %q, want %q", got, want)
			}
			wantSSEC(t, cp, copySSECPrefx, keyA)
			wantSSEC(t, cp, ssecPrefix, tc.replica)
			if v, ok := cp.Header["X-Amz-Server-Side-Encryption"]; ok {
				t.Errorf("CopyObject of an SSE-C replica has x-amz-server-side-encryption: %q", v)
			}
			noHeaders(t, cp, "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-storage-class",
				"x-amz-metadata-directive", "x-amz-tagging-directive")

			// The replica is read back with its own key, at the version
			// the copy made.
			head := h.fake.Only(t, "HeadObject")
			if head.Client != dstClient || head.Key != "docs/a.txt" || head.Query.Get("versionId") != cp.Reply.Get("x-amz-version-id") {
				t.Errorf("read-back HEAD %s by %s, want dst versionId=%s", head.RawQuery, head.Client, cp.Reply.Get("x-amz-version-id"))
			}
			wantSSEC(t, head, ssecPrefix, tc.replica)
			noHeaders(t, head, "x-amz-copy-source")

			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusSucceeded || o.Replica.VersionID != cp.Reply.Get("x-amz-version-id") || o.Replica.Encryption != planner.SSEC {
				t.Errorf("outcome = %+v, want succeeded, dest version %s, SSE-C", o, cp.Reply.Get("x-amz-version-id"))
			}
			if len(h.fake.Requests()) != 2 {
				t.Errorf("requests = %v, want CopyObject and HeadObject only", s3fake.Describe(h.fake.Requests()))
			}
			// The replica is the source's content, under the replica key.
			if r := h.replica(t, "docs/a.txt"); r.VersionID != o.Replica.VersionID || !bytes.Equal(r.Data, data) ||
				r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != tc.replica.MD5 {
				t.Errorf("replica %s (key MD5 %s), want %s of the source's %d bytes under %s", r.VersionID,
					r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"], o.Replica.VersionID, len(data), tc.replica.ID)
			}
		})
	}
}

// TestCopyObjectReplicaEncryption checks the SSE headers of CopyObject for
// every non-SSE-C replica class.
func TestCopyObjectReplicaEncryption(t *testing.T) {
	const (
		kmsKey    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		srcKMSKey = "arn:aws:kms:us-east-1:111122223333:key/source"
	)
	for _, tc := range []struct {
		name       string
		src, rep   planner.Encryption
		kmsKeyID   string
		wantSSE    string // x-amz-server-side-encryption; "" = absent
		wantKMSKey string // x-amz-server-side-encryption-aws-kms-key-id; "" = absent
		sourceHead map[string]string
	}{
		{"SSE-KMS", planner.SSEKMS, planner.SSEKMS, kmsKey, "aws:kms", kmsKey,
			map[string]string{"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": srcKMSKey}},
		{"DSSE-KMS", planner.DSSEKMS, planner.DSSEKMS, kmsKey, "aws:kms:dsse", kmsKey,
			map[string]string{"x-amz-server-side-encryption": "aws:kms:dsse", "x-amz-server-side-encryption-aws-kms-key-id": srcKMSKey}},
		{"SSE-S3", planner.SSES3, planner.SSES3, "", "AES256", "",
			map[string]string{"x-amz-server-side-encryption": "AES256"}},
		// The planner leaves the replica class empty for a plaintext
		// source: the destination bucket's default (none here) applies.
		{"plaintext", planner.NotSSE, "", "", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.source("k", "v1", 10, tc.sourceHead)
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 10}, Inspection: planner.Inspection{Encryption: tc.src}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: tc.rep, ReplicaKMSKeyID: tc.kmsKeyID}, ID: 1}}})
			cp := h.fake.Only(t, "CopyObject")
			check := func(name, want string) {
				t.Helper()
				got, present := cp.Header.Get(name), cp.Header.Values(name) != nil
				switch {
				case want == "" && present:
					t.Errorf("%s = %q, want absent", name, got)
				case want != "" && got != want:
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			check("x-amz-server-side-encryption", tc.wantSSE)
			check("x-amz-server-side-encryption-aws-kms-key-id", tc.wantKMSKey)
			noHeaders(t, cp, ssecPrefix, copySSECPrefx, "x-amz-server-side-encryption-context",
				"x-amz-server-side-encryption-bucket-key-enabled")
			if tc.wantSSE == "" {
				noHeaders(t, cp, "x-amz-server-side-encryption")
			}
			head := h.fake.Only(t, "HeadObject")
			noHeaders(t, head, ssecPrefix)

			o := h.store.outcome(t, 1)
			wantEnc := tc.rep
			if wantEnc == "" {
				wantEnc = planner.NotSSE // read back from the replica
			}
			if o.Status != planner.StatusSucceeded || o.Replica.Encryption != wantEnc || o.Replica.KMSKeyID != tc.wantKMSKey {
				t.Errorf("outcome = %+v, want succeeded, %s, kms key %q", o, wantEnc, tc.wantKMSKey)
			}
		})
	}
}

// TestCopySourceEncoding checks x-amz-copy-source for awkward keys: each
// path segment escaped, slashes (also doubled ones) kept, ?versionId=
// appended, and the key the server decodes equals the source key: the
// fake decodes the header as strictly as S3 does (a literal '+' reads as
// a space), so the copy finds the source version only when it does.
func TestCopySourceEncoding(t *testing.T) {
	for _, tc := range []struct {
		key, version, wantHeader string
	}{
		{"plain/key.txt", "v1", "src/plain/key.txt?versionId=v1"},
		{"a b/ü%?#&//x", "3/L4kqtJl+cI=", "src/a%20b/%C3%BC%25%3F%23&//x?versionId=3%2FL4kqtJl%2BcI%3D"},
		{"a b/ü+%?#&//x", "v1", "src/a%20b/%C3%BC%2B%25%3F%23&//x?versionId=v1"},
		{"c++/notes+1.txt", "v1", "src/c%2B%2B/notes%2B1.txt?versionId=v1"},
		{"/lead/trail/", "null", "src//lead/trail/?versionId=null"},
		{"日本語/ファイル;x,y=z@h:$.txt", "v", "src/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB%3Bx%2Cy=z@h:$.txt?versionId=v"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			h := newHarness(t)
			data := h.source(tc.key, tc.version, 1, nil)
			h.run(t, planner.KeyWork{Key: tc.key, Tasks: []planner.Task{{Version: planner.Version{VersionID: tc.version, Size: 1}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
			cp := h.fake.Only(t, "CopyObject")
			if raw := cp.Header.Get("x-amz-copy-source"); raw != tc.wantHeader {
				t.Errorf("x-amz-copy-source = %q, want %q", raw, tc.wantHeader)
			}
			if cp.Status != http.StatusOK || cp.Reply.Get("x-amz-copy-source-version-id") != tc.version {
				t.Errorf("server answered %d, copied version %q, want 200 and %q", cp.Status, cp.Reply.Get("x-amz-copy-source-version-id"), tc.version)
			}
			// The destination key travels in the request path.
			if cp.Key != tc.key {
				t.Errorf("CopyObject path decodes to key %q, want %q", cp.Key, tc.key)
			}
			if r := h.replica(t, tc.key); !bytes.Equal(r.Data, data) {
				t.Errorf("replica holds %q, want the source's %q", r.Data, data)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v, want succeeded", o)
			}
		})
	}
}

// TestCopyObject200Error checks that a CopyObject answered 200 with an
// <Error> body is a failure: nothing is recorded as copied, and the
// replica is not read back. Whether the copy was made is unknown (a 5xx),
// so each attempt is followed by a listing of the replica key, which finds
// nothing, before the next is sent.
func TestCopyObject200Error(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 10, nil)
	h.source("k", "v2", 10, nil)
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" {
			return s3fake.Error(http.StatusOK, "InternalError")
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "v1", Size: 10}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 1},
		{Version: planner.Version{VersionID: "v2", Size: 10}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 2},
	}})
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusFailed || o.ErrorCode != "InternalError" || o.Replica.VersionID != "" {
		t.Errorf("outcome = %+v, want failed InternalError without a dest version", o)
	}
	if o.HTTPStatus != http.StatusInternalServerError {
		// The SDK rewrites a 200 <Error> to a 5xx so it is retried.
		t.Errorf("HTTPStatus = %d, want 500", o.HTTPStatus)
	}
	if o2 := h.store.outcome(t, 2); o2.Status != planner.StatusFailed || o2.ErrorCode != CodePrecedingVersionFailed {
		t.Errorf("next version outcome = %+v, want failed %s", o2, CodePrecedingVersionFailed)
	}
	var ops []string
	for _, r := range h.fake.Requests() {
		ops = append(ops, r.Op)
	}
	want := strings.Repeat("CopyObject ListObjectVersions ", writeAttempts)
	if got := strings.Join(ops, " ") + " "; got != want {
		t.Errorf("requests = %v, want %q", s3fake.Describe(h.fake.Requests()), want)
	}
	if vs := h.fake.Versions(dstBucket, "k"); len(vs) != 0 {
		t.Errorf("destination has %d versions, want none", len(vs))
	}
}

// TestReplayDeleteMarker checks that a delete marker is replayed as a
// DELETE of the replica key without a version id.
func TestReplayDeleteMarker(t *testing.T) {
	h := newHarness(t)
	h.run(t, planner.KeyWork{Key: "a/b c", DestKey: "backup/a/b c", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 7},
	}})
	del := h.fake.Only(t, "DeleteObject")
	if del.Client != dstClient || del.Method != http.MethodDelete || del.Bucket != dstBucket || del.Key != "backup/a/b c" {
		t.Errorf("DELETE by %q: %s /%s/%s, want dst DELETE /dst/backup/a/b c", del.Client, del.Method, del.Bucket, del.Key)
	}
	if _, ok := del.Query["versionId"]; ok {
		t.Errorf("DELETE has versionId (%s): that would delete a replica version, not add a marker", del.RawQuery)
	}
	noHeaders(t, del, "x-amz-copy-source", ssecPrefix, "x-amz-bypass-governance-retention", "x-amz-mfa")
	o := h.store.outcome(t, 7)
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != del.Reply.Get("x-amz-version-id") {
		t.Errorf("outcome = %+v, want succeeded with the marker's version %s", o, del.Reply.Get("x-amz-version-id"))
	}
	if rs := h.fake.Requests(); len(rs) != 1 {
		t.Errorf("requests = %v, want the DELETE only", s3fake.Describe(rs))
	}
	if vs := h.fake.Versions(dstBucket, "backup/a/b c"); len(vs) != 1 || !vs[0].DeleteMarker || vs[0].VersionID != o.Replica.VersionID {
		t.Errorf("destination versions %+v, want the one delete marker %s", vs, o.Replica.VersionID)
	}
}

// TestReplayDeleteOnUnversionedDest: a DELETE that made no marker (the
// destination is not versioned: it deletes the object) is recorded as
// such, not as a replayed marker.
func TestReplayDeleteOnUnversionedDest(t *testing.T) {
	h := newHarness(t)
	h.fake.CreateBucket(dstBucket, false)
	h.fake.Put(dstBucket, "k", s3fake.Object{Size: 3})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 1}}})
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != "" || !strings.Contains(o.Message, "not versioned") {
		t.Errorf("outcome = %+v, want succeeded saying the destination is not versioned", o)
	}
	if del := h.fake.Only(t, "DeleteObject"); del.Reply.Get("x-amz-delete-marker") != "" || del.Reply.Get("x-amz-version-id") != "" {
		t.Errorf("DELETE on an unversioned bucket answered %v", del.Reply)
	}
	if vs := h.fake.Versions(dstBucket, "k"); len(vs) != 0 {
		t.Errorf("destination still has %+v", vs)
	}
}
