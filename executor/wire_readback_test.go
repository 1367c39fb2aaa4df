package executor

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// The copy's checksum request and the read-back that compares the
// replica's checksum with the source's; Bucket Keys, DSSE-KMS and storage
// classes on the requests that create a replica.

func TestCopyChecksumReadBack(t *testing.T) {
	const size = 100
	data, other := s3fake.Fill(size), []byte(strings.Repeat("y", size))
	srcSHA, otherSHA := s3fake.Checksum("SHA256", data), s3fake.Checksum("SHA256", other)
	for _, tc := range []struct {
		name    string
		src     planner.Checksum  // as the plan recorded it
		content []byte            // the source's bytes; nil = data
		srcHead map[string]string // the source version's headers
		// readBack changes the fake's answer to the read-back HEAD, as a
		// server that reports more or less would answer.
		readBack func(http.Header)
		wantAlg  string         // x-amz-checksum-algorithm on CopyObject; "" = absent
		status   planner.Status // outcome
		code     string
		checksum string // ChecksumStatus
	}{
		{
			name:    "full object, equal",
			src:     planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			srcHead: map[string]string{"x-amz-checksum-sha256": srcSHA, "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg: "SHA256", status: planner.StatusSucceeded, checksum: planner.ChecksumMatch,
		},
		{
			// The replica's CRC32 is compared, not its other checksum.
			name:     "full object CRC32, equal",
			src:      planner.Checksum{Algorithm: "CRC32", Value: s3fake.Checksum("CRC32", data), Type: "FULL_OBJECT"},
			readBack: func(h http.Header) { h.Set("x-amz-checksum-sha256", otherSHA) },
			wantAlg:  "CRC32", status: planner.StatusSucceeded, checksum: planner.ChecksumMatch,
		},
		{
			// The bytes copied are not those the plan checksummed.
			name:    "full object, replica differs",
			src:     planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			content: other,
			wantAlg: "SHA256", status: planner.StatusFailed, code: CodeChecksumMismatch, checksum: planner.ChecksumMismatch,
		},
		{
			name: "full object, replica has none",
			src:  planner.Checksum{Algorithm: "SHA256", Value: srcSHA, Type: "FULL_OBJECT"},
			readBack: func(h http.Header) {
				for k := range h {
					if strings.HasPrefix(k, "X-Amz-Checksum-") {
						h.Del(k)
					}
				}
			},
			wantAlg: "SHA256", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
		{
			// The copy keeps the algorithm, as a full-object checksum.
			name:    "composite source",
			src:     planner.Checksum{Algorithm: "CRC32C", Value: "q8wb5g==-3", Type: "COMPOSITE"},
			srcHead: map[string]string{"x-amz-checksum-crc32c": "q8wb5g==-3", "x-amz-checksum-type": "COMPOSITE"},
			wantAlg: "", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
		{
			name:    "no source checksum",
			srcHead: map[string]string{"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-amz-checksum-type": "FULL_OBJECT"},
			wantAlg: "", status: planner.StatusSucceeded, checksum: planner.ChecksumNotCompared,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			content := tc.content
			if content == nil {
				content = data
			}
			h.fake.Put(srcBucket, "k", s3fake.Object{VersionID: "v1", Data: content, Header: tc.srcHead})
			if tc.readBack != nil {
				h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
					if r.Op != "HeadObject" {
						return nil
					}
					rep := h.fake.Answer(r)
					tc.readBack(rep.Header)
					return rep
				})
			}
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: s3fake.ETagOf(data)}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: tc.src}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})

			cp := h.fake.Only(t, "CopyObject")
			got, present := cp.Header.Get("x-amz-checksum-algorithm"), cp.Header.Values("x-amz-checksum-algorithm") != nil
			if got != tc.wantAlg || present != (tc.wantAlg != "") {
				t.Errorf("CopyObject x-amz-checksum-algorithm = %q (present %v), want %q", got, present, tc.wantAlg)
			}
			head := h.fake.Only(t, "HeadObject")
			if head.Client != dstClient || head.Query.Get("versionId") != cp.Reply.Get("x-amz-version-id") {
				t.Errorf("read-back %v by %s, want dst at the copy's version", s3fake.Describe([]s3fake.Request{head}), head.Client)
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
	// The source's bytes are not those the plan checksummed.
	h.fake.Put(srcBucket, "k", s3fake.Object{VersionID: "v1", Data: []byte(strings.Repeat("y", 100))})
	h.source("k", "v2", 100, nil)
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
	h.fake.Only(t, "CopyObject")
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
				h.source("k", "v1", m.size, map[string]string{"x-amz-server-side-encryption": tc.wantSSE, "x-amz-server-side-encryption-aws-kms-key-id": keyID})
				h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: m.size, ETag: plainETag(m.size)}, Inspection: planner.Inspection{Encryption: tc.enc}, Decision: planner.Decision{Action: m.action, ReplicaEncryption: tc.enc, ReplicaKMSKeyID: keyID, ReplicaBucketKey: tc.bucketKey}, ID: 1}}})

				r := h.fake.Only(t, m.op)
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
				for _, other := range h.fake.Requests() {
					if !creations[other.Op] {
						noHeaders(t, other, bucketKeyHeader)
					}
				}
				if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || o.Replica.Encryption != tc.enc {
					t.Errorf("outcome = %+v, want succeeded, %s", o, tc.enc)
				}
			})
		}
	}
}

func TestMultipartDSSEKMS(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/dsse"
	h := newHarness(t)
	h.source("k", "v1", 11*mib, map[string]string{"x-amz-server-side-encryption": "aws:kms:dsse"})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 11 * mib, ETag: `"opaque"`}, Inspection: planner.Inspection{Encryption: planner.DSSEKMS}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.DSSEKMS, ReplicaKMSKeyID: kmsKey, ReplicaBucketKey: true}, ID: 1}}})
	create := h.fake.Only(t, "CreateMultipartUpload")
	if got := create.Header.Get("x-amz-server-side-encryption"); got != "aws:kms:dsse" {
		t.Errorf("CreateMultipartUpload x-amz-server-side-encryption = %q, want aws:kms:dsse", got)
	}
	if got := create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"); got != kmsKey {
		t.Errorf("CreateMultipartUpload KMS key id = %q, want %q", got, kmsKey)
	}
	noHeaders(t, create, bucketKeyHeader, ssecPrefix)
	// Parts and Complete inherit the upload's encryption and carry none.
	for _, r := range h.fake.Requests() {
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
			h.source("k", "v1", tc.size, nil)
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: tc.size, ETag: plainETag(tc.size), StorageClass: tc.class}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: tc.action}, ID: 1}}})
			r := h.fake.Only(t, tc.op)
			got, present := r.Header.Get("x-amz-storage-class"), r.Header.Values("x-amz-storage-class") != nil
			if got != tc.want || present != (tc.want != "") {
				t.Errorf("%s x-amz-storage-class = %q (present %v), want %q", tc.op, got, present, tc.want)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v", o)
			}
			if got := h.replica(t, "k").Header["X-Amz-Storage-Class"]; got != tc.want {
				t.Errorf("replica storage class %q, want %q", got, tc.want)
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
	h.source("k", "v1", 100, map[string]string{"x-amz-checksum-sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-3"})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"abc-3"`}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: inventoryChecksum("SHA256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-3")}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
	if v := h.fake.Only(t, "CopyObject").Header.Get("x-amz-checksum-algorithm"); v != "" {
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

// TestFolderMarkerReadBack: a server that names no version on the copy or
// the read-back (MinIO with a key ending in "/", which it never versions)
// gets the replica recorded as the null version; an ETag read back that no
// client sees otherwise (MinIO's HEAD of such a key under KMS answers a
// sealed 96-hex form) is replaced by the one the listing gives.
func TestFolderMarkerReadBack(t *testing.T) {
	h := newHarness(t)
	h.source("export/", "v1", 0, nil)
	sealed := `"` + strings.Repeat("20000f00", 8) + strings.Repeat("ab", 16) + `"`
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Client != dstClient || (r.Op != "CopyObject" && r.Op != "HeadObject") {
			return nil
		}
		rep := h.fake.Answer(r)
		rep.Header.Del("x-amz-version-id")
		if r.Op == "HeadObject" {
			rep.Header.Set("ETag", sealed)
		}
		return rep
	})
	h.run(t, planner.KeyWork{Key: "export/", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1"},
		Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
	o := h.store.outcome(t, 1)
	listed := h.replica(t, "export/")
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != "null" || o.Replica.ETag != listed.ETag {
		t.Errorf("outcome = %+v, want the null version and the listed ETag %s", o, listed.ETag)
	}
}
