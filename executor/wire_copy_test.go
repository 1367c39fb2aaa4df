package executor

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// ssecReplicaHead is the HEAD of an SSE-C replica: the server echoes the
// algorithm and the key MD5.
func ssecReplicaHead(size int64, k testKey) object {
	return object{size: size, header: map[string]string{
		ssecPrefix + "algorithm": "AES256", ssecPrefix + "key-MD5": k.md5b64}}
}

// TestCopyObjectSSEC checks the exact SSE-C headers of a CopyObject, with
// and without re-keying: the source key goes in the copy-source triple,
// the replica key in the plain triple, and nothing asks for SSE-S3/KMS.
func TestCopyObjectSSEC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replica testKey
	}{
		{"rotation A to B", keyB},
		{"same key", keyA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.putObject(dstBucket, "docs/a.txt", ssecReplicaHead(1000, tc.replica))
			h.run(t, planner.KeyWork{Key: "docs/a.txt", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 1000, ETag: `"e"`, StorageClass: "STANDARD"}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: tc.replica.id}, ID: 1}}})

			cp := only(t, h.fake, "CopyObject")
			if cp.Client != "dst" || cp.Method != http.MethodPut || cp.Bucket != dstBucket || cp.Key != "docs/a.txt" {
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
			head := only(t, h.fake, "HeadObject")
			if head.Client != "dst" || head.Key != "docs/a.txt" || head.Query.Get("versionId") != cp.Reply.Get("x-amz-version-id") {
				t.Errorf("read-back HEAD %s by %s, want dst versionId=%s", head.RawQuery, head.Client, cp.Reply.Get("x-amz-version-id"))
			}
			wantSSEC(t, head, ssecPrefix, tc.replica)
			noHeaders(t, head, "x-amz-copy-source")

			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusSucceeded || o.Replica.VersionID != cp.Reply.Get("x-amz-version-id") || o.Replica.Encryption != planner.SSEC {
				t.Errorf("outcome = %+v, want succeeded, dest version %s, SSE-C", o, cp.Reply.Get("x-amz-version-id"))
			}
			if len(h.fake.requests()) != 2 {
				t.Errorf("requests = %v, want CopyObject and HeadObject only", describe(h.fake.requests()))
			}
		})
	}
}

// TestCopyObjectReplicaEncryption checks the SSE headers of CopyObject for
// every non-SSE-C replica class.
func TestCopyObjectReplicaEncryption(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		name        string
		src, rep    planner.Encryption
		kmsKeyID    string
		wantSSE     string // x-amz-server-side-encryption; "" = absent
		wantKMSKey  string // x-amz-server-side-encryption-aws-kms-key-id; "" = absent
		replicaHead map[string]string
	}{
		{"SSE-KMS", planner.SSEKMS, planner.SSEKMS, kmsKey, "aws:kms", kmsKey,
			map[string]string{"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": kmsKey}},
		{"DSSE-KMS", planner.DSSEKMS, planner.DSSEKMS, kmsKey, "aws:kms:dsse", kmsKey,
			map[string]string{"x-amz-server-side-encryption": "aws:kms:dsse", "x-amz-server-side-encryption-aws-kms-key-id": kmsKey}},
		{"SSE-S3", planner.SSES3, planner.SSES3, "", "AES256", "",
			map[string]string{"x-amz-server-side-encryption": "AES256"}},
		// The planner leaves the replica class empty for a plaintext
		// source: the destination bucket's default applies.
		{"plaintext", planner.NotSSE, "", "", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.putObject(dstBucket, "k", object{size: 10, header: tc.replicaHead})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 10}, Inspection: planner.Inspection{Encryption: tc.src}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: tc.rep, ReplicaKMSKeyID: tc.kmsKeyID}, ID: 1}}})
			cp := only(t, h.fake, "CopyObject")
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
			head := only(t, h.fake, "HeadObject")
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
// appended, and the key the server decodes equals the source key (decoded
// as S3 does: see s3DecodeCopySource, which reads a literal '+' as a space).
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
			h.fake.putObject(dstBucket, tc.key, object{size: 1})
			h.run(t, planner.KeyWork{Key: tc.key, Tasks: []planner.Task{{Version: planner.Version{VersionID: tc.version, Size: 1}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
			cp := only(t, h.fake, "CopyObject")
			raw := cp.Header.Get("x-amz-copy-source")
			if raw != tc.wantHeader {
				t.Errorf("x-amz-copy-source = %q, want %q", raw, tc.wantHeader)
			}
			bucket, key, version, err := s3DecodeCopySource(raw)
			if err != nil || bucket != srcBucket || key != tc.key || version != tc.version {
				t.Errorf("server decodes %q as bucket %q key %q version %q (err %v), want %q %q %q",
					raw, bucket, key, version, err, srcBucket, tc.key, tc.version)
			}
			// The destination key travels in the request path.
			if cp.Key != tc.key {
				t.Errorf("CopyObject path decodes to key %q, want %q", cp.Key, tc.key)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v, want succeeded", o)
			}
		})
	}
}

// s3DecodeCopySource splits x-amz-copy-source the strictest way servers
// read it: the query after the first literal "?", then the path
// form-decoded, so a literal '+' reads as a space. AWS S3 does so (copies
// of keys with an unescaped '+' fail with NoSuchKey: aws/aws-sdk-js#1821,
// aws/aws-sdk-php#379; botocore and rclone send '+' as %2B), as did MinIO
// before it switched to url.Parse, and SeaweedFS.
func s3DecodeCopySource(raw string) (bucket, key, versionID string, err error) {
	path, query, _ := strings.Cut(raw, "?")
	if path, err = url.QueryUnescape(strings.TrimPrefix(path, "/")); err != nil {
		return "", "", "", err
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", "", err
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key, q.Get("versionId"), nil
}

// TestCopyObject200Error checks that a CopyObject answered 200 with an
// <Error> body is a failure: nothing is recorded as copied, and the
// replica is not read back.
func TestCopyObject200Error(t *testing.T) {
	h := newHarness(t)
	h.fake.setHook(func(r request) *reply {
		if r.Op == "CopyObject" {
			rep := s3Error(http.StatusOK, "InternalError")
			return rep
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
	if rs := h.fake.requests(); len(rs) != 1 {
		t.Errorf("requests = %v, want the one CopyObject", describe(rs))
	}
}

// TestReplayDeleteMarker checks that a delete marker is replayed as a
// DELETE of the replica key without a version id.
func TestReplayDeleteMarker(t *testing.T) {
	h := newHarness(t)
	h.run(t, planner.KeyWork{Key: "a/b c", DestKey: "backup/a/b c", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 7},
	}})
	del := only(t, h.fake, "DeleteObject")
	if del.Client != "dst" || del.Method != http.MethodDelete || del.Bucket != dstBucket || del.Key != "backup/a/b c" {
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
	if rs := h.fake.requests(); len(rs) != 1 {
		t.Errorf("requests = %v, want the DELETE only", describe(rs))
	}
}

// TestReplayDeleteOnUnversionedDest: a DELETE that made no marker (the
// destination is not versioned) is recorded as such, not as a replayed
// marker.
func TestReplayDeleteOnUnversionedDest(t *testing.T) {
	h := newHarness(t)
	h.fake.setHook(func(r request) *reply {
		if r.Op == "DeleteObject" {
			return &reply{status: http.StatusNoContent}
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 1}}})
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != "" || !strings.Contains(o.Message, "not versioned") {
		t.Errorf("outcome = %+v, want succeeded saying the destination is not versioned", o)
	}
}
