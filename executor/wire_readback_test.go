package executor

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// The copy's checksum request and the read-back that compares the
// replica's checksum with the source's; Bucket Keys, DSSE-KMS and storage
// classes on the requests that create a replica.

func TestCopyChecksumReadBack(t *testing.T) {
	const size = 100
	srcSHA, otherSHA := sha256Of(size), sha256Of(size+1)
	for _, tc := range []struct {
		name        string
		src         planner.Checksum
		replicaHead map[string]string
		wantAlg     string         // x-amz-checksum-algorithm on CopyObject; "" = absent
		status      planner.Status // outcome
		code        string
		checksum    string // ChecksumStatus
	}{
		{
			name:        "full object, equal",
			src:         planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			replicaHead: map[string]string{"x-amz-checksum-sha256": srcSHA, "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg:     "SHA256", status: planner.StatusSucceeded, checksum: planner.ChecksumMatch,
		},
		{
			name:        "full object CRC32, equal",
			src:         planner.Checksum{Algorithm: "CRC32", Value: "NSRBwg==", Type: "FULL_OBJECT"},
			replicaHead: map[string]string{"x-amz-checksum-crc32": "NSRBwg==", "x-amz-checksum-sha256": otherSHA, "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg:     "CRC32", status: planner.StatusSucceeded, checksum: planner.ChecksumMatch,
		},
		{
			name:        "full object, replica differs",
			src:         planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			replicaHead: map[string]string{"x-amz-checksum-sha256": otherSHA, "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg:     "SHA256", status: planner.StatusFailed, code: CodeChecksumMismatch, checksum: planner.ChecksumMismatch,
		},
		{
			name:    "full object, replica has none",
			src:     planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			wantAlg: "SHA256", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
		{
			name:        "composite source",
			src:         planner.Checksum{Algorithm: "CRC32C", Value: "q8wb5g==-3", Type: "COMPOSITE"},
			replicaHead: map[string]string{"x-amz-checksum-crc32c": "other==", "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg:     "", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
		{
			name:        "no source checksum",
			replicaHead: map[string]string{"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg:     "", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.putObject(dstBucket, "k", object{size: size, header: tc.replicaHead})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: tc.src}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})

			cp := only(t, h.fake, "CopyObject")
			got, present := cp.Header.Get("x-amz-checksum-algorithm"), cp.Header.Values("x-amz-checksum-algorithm") != nil
			if got != tc.wantAlg || present != (tc.wantAlg != "") {
				t.Errorf("CopyObject x-amz-checksum-algorithm = %q (present %v), want %q", got, present, tc.wantAlg)
			}
			head := only(t, h.fake, "HeadObject")
			if head.Client != "dst" || head.Query.Get("versionId") != cp.Reply.Get("x-amz-version-id") {
				t.Errorf("read-back %v by %s, want dst at the copy's version", describe([]request{head}), head.Client)
			}
			if v := head.Header.Get("x-amz-checksum-mode"); v != "ENABLED" {
				t.Errorf("read-back x-amz-checksum-mode = %q, want ENABLED", v)
			}

			o := h.store.outcome(t, 1)
			if o.Status != tc.status || o.ErrorCode != tc.code || o.Replica.ChecksumStatus != tc.checksum {
				t.Errorf("outcome = %+v, want %s %q checksum %s", o, tc.status, tc.code, tc.checksum)
			}
			if tc.code == CodeChecksumMismatch && (!strings.Contains(o.Message, otherSHA) || !strings.Contains(o.Message, srcSHA)) {
				t.Errorf("message %q does not give both checksums", o.Message)
			}
			if o.Status == planner.StatusSucceeded && o.Replica.VersionID != cp.Reply.Get("x-amz-version-id") {
				t.Errorf("DestVersionID %q, want %q", o.Replica.VersionID, cp.Reply.Get("x-amz-version-id"))
			}
		})
	}
}

// TestChecksumMismatchHoldsBackNewer: a replica recorded failed for its
// checksum stops the key like any failed copy.
func TestChecksumMismatchHoldsBackNewer(t *testing.T) {
	h := newHarness(t)
	h.fake.putObject(dstBucket, "k", object{size: 100, header: map[string]string{"x-amz-checksum-sha256": sha256Of(1)}})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "v1", Size: 100}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Of(100), Type: "FULL_OBJECT"}}, Decision: planner.Decision{Action: planner.Copy}, ID: 1},
		{Version: planner.Version{VersionID: "v2", Size: 100}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 2},
	}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed || o.ErrorCode != CodeChecksumMismatch {
		t.Errorf("outcome 1 = %+v, want failed %s", o, CodeChecksumMismatch)
	}
	if o := h.store.outcome(t, 2); o.Status != planner.StatusFailed || o.ErrorCode != CodePrecedingVersionFailed {
		t.Errorf("outcome 2 = %+v, want failed %s", o, CodePrecedingVersionFailed)
	}
	only(t, h.fake, "CopyObject")
}

const bucketKeyHeader = "x-amz-server-side-encryption-bucket-key-enabled"

// creations are the requests that create a replica or its upload.
var creations = map[string]bool{"CopyObject": true, "CreateMultipartUpload": true, "PutObject": true}

func TestBucketKeyEnabled(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/replica"
	type mode struct {
		name   string
		size   int64
		action planner.Action
		stream bool
		op     string // the request that carries the SSE headers
	}
	modes := []mode{
		{"copy", 100, planner.Copy, false, "CopyObject"},
		{"multipart", 11 * mib, planner.Multipart, false, "CreateMultipartUpload"},
		{"stream", 100, planner.Copy, true, "PutObject"},
	}
	for _, tc := range []struct {
		name      string
		enc       planner.Encryption
		bucketKey bool
		wantSSE   string
		want      bool
	}{
		{"SSE-KMS with bucket key", planner.SSEKMS, true, "aws:kms", true},
		{"SSE-KMS without", planner.SSEKMS, false, "aws:kms", false},
		{"DSSE-KMS with bucket key", planner.DSSEKMS, true, "aws:kms:dsse", false},
		{"SSE-S3 with bucket key", planner.SSES3, true, "AES256", false},
	} {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				h := newHarness(t)
				h.cfg.Stream = m.stream
				keyID := ""
				if tc.enc == planner.SSEKMS || tc.enc == planner.DSSEKMS {
					keyID = kmsKey
				}
				h.fake.putObject(srcBucket, "k", object{size: m.size})
				h.fake.putObject(dstBucket, "k", object{size: m.size, header: map[string]string{"x-amz-server-side-encryption": tc.wantSSE}})
				h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: m.size, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: tc.enc}, Decision: planner.Decision{Action: m.action, ReplicaEncryption: tc.enc, ReplicaKMSKeyID: keyID, ReplicaBucketKey: tc.bucketKey}, ID: 1}}})

				r := only(t, h.fake, m.op)
				if got := r.Header.Get("x-amz-server-side-encryption"); got != tc.wantSSE {
					t.Errorf("%s x-amz-server-side-encryption = %q, want %q", m.op, got, tc.wantSSE)
				}
				if got := r.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"); got != keyID {
					t.Errorf("%s KMS key id = %q, want %q", m.op, got, keyID)
				}
				got, present := r.Header.Get(bucketKeyHeader), r.Header.Values(bucketKeyHeader) != nil
				switch {
				case tc.want && got != "true":
					t.Errorf("%s %s = %q, want true", m.op, bucketKeyHeader, got)
				case !tc.want && present:
					t.Errorf("%s %s = %q, want absent", m.op, bucketKeyHeader, got)
				}
				// No other request carries it.
				for _, other := range h.fake.requests() {
					if !creations[other.Op] {
						noHeaders(t, other, bucketKeyHeader)
					}
				}
				if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
					t.Errorf("outcome = %+v", o)
				}
			})
		}
	}
}

func TestMultipartDSSEKMS(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/dsse"
	h := newHarness(t)
	h.fake.putObject(srcBucket, "k", object{size: 11 * mib, header: map[string]string{"x-amz-server-side-encryption": "aws:kms:dsse"}})
	h.fake.putObject(dstBucket, "k", object{size: 11 * mib, header: map[string]string{
		"x-amz-server-side-encryption": "aws:kms:dsse", "x-amz-server-side-encryption-aws-kms-key-id": kmsKey}})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 11 * mib, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: planner.DSSEKMS}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.DSSEKMS, ReplicaKMSKeyID: kmsKey, ReplicaBucketKey: true}, ID: 1}}})
	create := only(t, h.fake, "CreateMultipartUpload")
	if got := create.Header.Get("x-amz-server-side-encryption"); got != "aws:kms:dsse" {
		t.Errorf("CreateMultipartUpload x-amz-server-side-encryption = %q, want aws:kms:dsse", got)
	}
	if got := create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"); got != kmsKey {
		t.Errorf("CreateMultipartUpload KMS key id = %q, want %q", got, kmsKey)
	}
	noHeaders(t, create, bucketKeyHeader, ssecPrefix)
	// Parts and Complete inherit the upload's encryption and carry none.
	for _, r := range h.fake.requests() {
		if r.Op == "UploadPartCopy" || r.Op == "CompleteMultipartUpload" {
			noHeaders(t, r, "x-amz-server-side-encryption", copySSECPrefx)
		}
	}
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusSucceeded || o.Replica.Encryption != planner.DSSEKMS || o.Replica.KMSKeyID != kmsKey {
		t.Errorf("outcome = %+v, want succeeded DSSE-KMS with %s", o, kmsKey)
	}
}

func TestReplicaStorageClass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		class  string
		want   string // "" = header absent
		size   int64
		action planner.Action
		op     string
	}{
		{"copy, reduced redundancy", "REDUCED_REDUNDANCY", "REDUCED_REDUNDANCY", 100, planner.Copy, "CopyObject"},
		{"multipart, reduced redundancy", "REDUCED_REDUNDANCY", "REDUCED_REDUNDANCY", 11 * mib, planner.Multipart, "CreateMultipartUpload"},
		{"copy, glacier ir", "GLACIER_IR", "GLACIER_IR", 100, planner.Copy, "CopyObject"},
		{"copy, standard left out", "STANDARD", "", 100, planner.Copy, "CopyObject"},
		{"multipart, none", "", "", 11 * mib, planner.Multipart, "CreateMultipartUpload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.putObject(srcBucket, "k", object{size: tc.size})
			h.fake.putObject(dstBucket, "k", object{size: tc.size})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: tc.size, ETag: fakeETag, StorageClass: tc.class}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: tc.action}, ID: 1}}})
			r := only(t, h.fake, tc.op)
			got, present := r.Header.Get("x-amz-storage-class"), r.Header.Values("x-amz-storage-class") != nil
			if got != tc.want || present != (tc.want != "") {
				t.Errorf("%s x-amz-storage-class = %q (present %v), want %q", tc.op, got, present, tc.want)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v", o)
			}
		})
	}
}

// TestCompositeChecksumWithoutType: a checksum of parts ("...-3") is
// composite even when the server leaves x-amz-checksum-type out: no
// checksum is asked of the copy, and a different full-object checksum on
// the replica is not a mismatch.
func TestCompositeChecksumWithoutType(t *testing.T) {
	h := newHarness(t)
	h.fake.putObject(dstBucket, "k", object{size: 100, header: map[string]string{"x-amz-checksum-sha256": sha256Of(100)}})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"abc-3"`}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: inventoryChecksum("SHA256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-3")}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
	if v := only(t, h.fake, "CopyObject").Header.Get("x-amz-checksum-algorithm"); v != "" {
		t.Errorf("CopyObject x-amz-checksum-algorithm = %q for a composite source checksum", v)
	}
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || o.Replica.ChecksumStatus != planner.ChecksumNotCompared {
		t.Errorf("outcome = %+v, want succeeded, checksum not compared", o)
	}
}

// inventoryChecksum is a source checksum as inspection records it from a
// HEAD that names no checksum type.
func inventoryChecksum(alg, value string) planner.Checksum {
	h := &s3.HeadObjectOutput{}
	switch alg {
	case "SHA256":
		h.ChecksumSHA256 = &value
	case "CRC32":
		h.ChecksumCRC32 = &value
	}
	return inventory.ChecksumOf(h, alg)
}
