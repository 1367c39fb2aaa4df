package inventory

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// headFake holds one version v1 of key whose HEAD answers the headers of
// reply: Content-Length is its size, ETag its ETag, the rest its headers
// (an SSE-C key MD5 among them makes it open only with that key).
func headFake(t *testing.T, key string, reply map[string]string) (*s3fake.Server, *s3.Client) {
	t.Helper()
	o := &s3fake.Object{ETag: reply["ETag"], Header: map[string]string{}}
	for k, v := range reply {
		switch k {
		case "Content-Length":
			size, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			o.Size = size
		case "ETag":
		default:
			o.Header[k] = v
		}
	}
	return versionFake(t, key, "v1", o)
}

const (
	sha256Value = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
	crc32Value  = "NSRBwg=="
)

func TestInspectFacts(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/src"
	const restored = `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`
	plain := map[string]string{"Content-Length": "42", "ETag": `"abc"`}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range plain {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		reply map[string]string
		want  planner.Inspection
	}{
		{"plain", plain, planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},

		{"sse-kms with bucket key", with("x-amz-server-side-encryption", "aws:kms",
			"x-amz-server-side-encryption-aws-kms-key-id", kmsKey, "x-amz-server-side-encryption-bucket-key-enabled", "true"),
			planner.Inspection{Inspected: true, Encryption: planner.SSEKMS, KMSKeyID: kmsKey, BucketKey: true}},
		{"sse-kms bucket key false", with("x-amz-server-side-encryption", "aws:kms",
			"x-amz-server-side-encryption-aws-kms-key-id", kmsKey, "x-amz-server-side-encryption-bucket-key-enabled", "false"),
			planner.Inspection{Inspected: true, Encryption: planner.SSEKMS, KMSKeyID: kmsKey}},
		{"sse-kms without bucket key header", with("x-amz-server-side-encryption", "aws:kms",
			"x-amz-server-side-encryption-aws-kms-key-id", kmsKey),
			planner.Inspection{Inspected: true, Encryption: planner.SSEKMS, KMSKeyID: kmsKey}},

		{"replication status completed", with("x-amz-replication-status", "COMPLETED"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, ReplicationStatus: "COMPLETED"}},
		{"replication status replica", with("x-amz-replication-status", "REPLICA"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, ReplicationStatus: "REPLICA"}},
		{"replication status failed", with("x-amz-replication-status", "FAILED"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, ReplicationStatus: "FAILED"}},

		{"sha256 full object", with("x-amz-checksum-sha256", sha256Value, "x-amz-checksum-type", "FULL_OBJECT"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE,
				Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Value, Type: "FULL_OBJECT"}}},
		{"crc32 composite", with("x-amz-checksum-crc32", crc32Value+"-3", "x-amz-checksum-type", "COMPOSITE"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE,
				Checksum: planner.Checksum{Algorithm: "CRC32", Value: crc32Value + "-3", Type: "COMPOSITE"}}},
		{"checksum without type", with("x-amz-checksum-crc32", crc32Value),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE,
				Checksum: planner.Checksum{Algorithm: "CRC32", Value: crc32Value}}},
		{"two checksums: the stronger", with("x-amz-checksum-crc32", crc32Value, "x-amz-checksum-sha256", sha256Value,
			"x-amz-checksum-type", "FULL_OBJECT"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE,
				Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Value, Type: "FULL_OBJECT"}}},

		// Archive tiers.
		{"glacier", with("x-amz-storage-class", "GLACIER"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"deep archive", with("x-amz-storage-class", "DEEP_ARCHIVE"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"glacier restored", with("x-amz-storage-class", "GLACIER", "x-amz-restore", restored),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
		{"deep archive restored", with("x-amz-storage-class", "DEEP_ARCHIVE", "x-amz-restore", restored),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
		{"glacier restoring", with("x-amz-storage-class", "GLACIER", "x-amz-restore", `ongoing-request="true"`),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"deep archive restoring", with("x-amz-storage-class", "DEEP_ARCHIVE", "x-amz-restore", `ongoing-request="true"`),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"intelligent-tiering archive access", with("x-amz-storage-class", "INTELLIGENT_TIERING", "x-amz-archive-status", "ARCHIVE_ACCESS"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"intelligent-tiering deep archive access", with("x-amz-storage-class", "INTELLIGENT_TIERING", "x-amz-archive-status", "DEEP_ARCHIVE_ACCESS"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"archive status alone", with("x-amz-archive-status", "ARCHIVE_ACCESS"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE, Archived: true}},
		{"intelligent-tiering archive restored", with("x-amz-storage-class", "INTELLIGENT_TIERING",
			"x-amz-archive-status", "ARCHIVE_ACCESS", "x-amz-restore", restored),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
		{"intelligent-tiering frequent access", with("x-amz-storage-class", "INTELLIGENT_TIERING"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
		{"glacier instant retrieval", with("x-amz-storage-class", "GLACIER_IR"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
		{"standard-ia", with("x-amz-storage-class", "STANDARD_IA"),
			planner.Inspection{Inspected: true, Encryption: planner.NotSSE}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := headFake(t, "k", tc.reply)
			got, err := Inspect(context.Background(), c, "b", "k", "v1", nil, false)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			tc.want.From = planner.FactsHead
			if got != tc.want {
				t.Errorf("Inspect =\n %+v, want\n %+v", got, tc.want)
			}
			hs := f.Requests()
			if len(hs) != 1 {
				t.Fatalf("%d requests, want 1", len(hs))
			}
			if v := hs[0].Header.Get("x-amz-checksum-mode"); v != "ENABLED" {
				t.Errorf("HEAD x-amz-checksum-mode = %q, want ENABLED", v)
			}
		})
	}
}

// TestInspectSSECFacts: the facts of an SSE-C version come from the HEAD
// that opened it, and every HEAD (the keyless one and each key trial)
// asks for the checksum.
func TestInspectSSECFacts(t *testing.T) {
	ring := testRing(t)
	opener := ring.ByID("three")
	f, c := headFake(t, "other/k", map[string]string{
		"Content-Length": "9", "ETag": `"opaque"`,
		"x-amz-server-side-encryption-customer-algorithm": "AES256",
		"x-amz-server-side-encryption-customer-key-MD5":   opener.MD5(),
		"x-amz-checksum-sha256":                           sha256Value, "x-amz-checksum-type": "FULL_OBJECT",
		"x-amz-replication-status": "PENDING",
		"x-amz-storage-class":      "DEEP_ARCHIVE",
	})
	got, err := Inspect(context.Background(), c, "b", "other/k", "v1", slices.Values(ring.Candidates("other/k")), false)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := planner.Inspection{Inspected: true, Encryption: planner.SSEC, SSECKeyID: "three", ReplicationStatus: "PENDING",
		Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Value, Type: "FULL_OBJECT"}, Archived: true, From: planner.FactsHead}
	if got != want {
		t.Errorf("Inspect =\n %+v, want\n %+v", got, want)
	}
	hs := f.Requests()
	if len(hs) != 4 {
		t.Fatalf("%d HEADs, want 4 (keyless, one, two, three)", len(hs))
	}
	for i, h := range hs {
		if v := h.Header.Get("x-amz-checksum-mode"); v != "ENABLED" {
			t.Errorf("HEAD %d: x-amz-checksum-mode = %q, want ENABLED", i, v)
		}
		if h.Op != "HeadObject" || h.RawQuery != "versionId=v1" {
			t.Errorf("HEAD %d: %s with query %q, want HeadObject with versionId=v1", i, h.Op, h.RawQuery)
		}
	}
}

func TestChecksumOf(t *testing.T) {
	all := &s3.HeadObjectOutput{
		ChecksumSHA256: aws.String("sha256"), ChecksumSHA1: aws.String("sha1"), ChecksumCRC64NVME: aws.String("crc64"),
		ChecksumCRC32C: aws.String("crc32c"), ChecksumCRC32: aws.String("crc32"), ChecksumType: types.ChecksumTypeFullObject,
	}
	full := func(alg, v string) planner.Checksum {
		return planner.Checksum{Algorithm: alg, Value: v, Type: "FULL_OBJECT"}
	}
	for _, tc := range []struct {
		name   string
		h      *s3.HeadObjectOutput
		prefer string
		want   planner.Checksum
	}{
		{"none", &s3.HeadObjectOutput{}, "", planner.Checksum{}},
		{"none, prefer", &s3.HeadObjectOutput{ChecksumType: types.ChecksumTypeFullObject}, "SHA256", planner.Checksum{}},
		{"empty value is none", &s3.HeadObjectOutput{ChecksumSHA256: aws.String("")}, "", planner.Checksum{}},
		{"all, no preference: strongest", all, "", full("SHA256", "sha256")},
		{"all, prefer SHA256", all, "SHA256", full("SHA256", "sha256")},
		{"all, prefer SHA1", all, "SHA1", full("SHA1", "sha1")},
		{"all, prefer CRC64NVME", all, "CRC64NVME", full("CRC64NVME", "crc64")},
		{"all, prefer CRC32C", all, "CRC32C", full("CRC32C", "crc32c")},
		{"all, prefer CRC32", all, "CRC32", full("CRC32", "crc32")},
		{"all, prefer unknown", all, "MD5", full("SHA256", "sha256")},
		{"preferred absent: strongest of the rest", &s3.HeadObjectOutput{ChecksumCRC32: aws.String("crc32"),
			ChecksumCRC64NVME: aws.String("crc64"), ChecksumType: types.ChecksumTypeFullObject}, "SHA256", full("CRC64NVME", "crc64")},
		{"SHA1 over CRCs", &s3.HeadObjectOutput{ChecksumCRC32C: aws.String("crc32c"), ChecksumSHA1: aws.String("sha1"),
			ChecksumType: types.ChecksumTypeFullObject}, "", full("SHA1", "sha1")},
		{"CRC32C over CRC32", &s3.HeadObjectOutput{ChecksumCRC32: aws.String("crc32"), ChecksumCRC32C: aws.String("crc32c")}, "",
			planner.Checksum{Algorithm: "CRC32C", Value: "crc32c"}},
		{"composite type carried", &s3.HeadObjectOutput{ChecksumCRC32: aws.String("crc32-2"), ChecksumType: types.ChecksumTypeComposite}, "CRC32",
			planner.Checksum{Algorithm: "CRC32", Value: "crc32-2", Type: "COMPOSITE"}},
	} {
		if got := ChecksumOf(tc.h, tc.prefer); got != tc.want {
			t.Errorf("%s: ChecksumOf(prefer %q) = %+v, want %+v", tc.name, tc.prefer, got, tc.want)
		}
	}
}
