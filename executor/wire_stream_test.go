package executor

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// putPayload is what a PutObject uploads: its content and the checksum
// sent with it (header or aws-chunked trailer), by header name.
type putPayload struct {
	content   []byte
	length    string // declared content length (decoded, for aws-chunked)
	checksums map[string]string
}

// decodePut reads a PutObject as S3 does, aws-chunked or not (the fake
// removes the framing and keeps the trailer).
func decodePut(r s3fake.Request) putPayload {
	p := putPayload{content: r.Content, length: r.Header.Get("Content-Length"), checksums: map[string]string{}}
	if d := r.Header.Get("x-amz-decoded-content-length"); d != "" {
		p.length = d
	}
	for _, h := range []http.Header{r.Header, r.Trailer} {
		for name, v := range h {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-algorithm" && n != "x-amz-checksum-type" {
				p.checksums[n] = v[0]
			}
		}
	}
	return p
}

// TestStreamSinglePartChecksum: a streamed object of one part is sent
// with its length and checksummed with the source's algorithm, so that
// the replica's checksum can be compared with the source's; the source
// is read with its SSE-C key and the replica written with its own.
func TestStreamSinglePartChecksum(t *testing.T) {
	const size = 1000
	for _, alg := range []string{"SHA256", "SHA1", "CRC32", "CRC32C"} {
		t.Run(alg, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Stream = true
			content := h.source("s", "v1", size, keyA.Header())
			sum := s3fake.Checksum(alg, content)
			h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"opaque"`}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID, Checksum: planner.Checksum{Algorithm: alg, Value: sum, Type: "FULL_OBJECT"}}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: 1}}})

			get := h.fake.Only(t, "GetObject")
			if get.Client != srcClient || get.Bucket != srcBucket || get.Query.Get("versionId") != "v1" {
				t.Errorf("GET %v by %s, want src at v1", s3fake.Describe([]s3fake.Request{get}), get.Client)
			}
			wantSSEC(t, get, ssecPrefix, keyA)

			put := h.fake.Only(t, "PutObject")
			if put.Client != dstClient || put.Bucket != dstBucket || put.Key != "s" {
				t.Errorf("PUT %v by %s, want dst /dst/s", s3fake.Describe([]s3fake.Request{put}), put.Client)
			}
			wantSSEC(t, put, ssecPrefix, keyB)
			noHeaders(t, put, copySSECPrefx, "Transfer-Encoding")
			if put.Header.Get("Content-Length") == "" {
				t.Error("PutObject without Content-Length")
			}
			declared := put.Header.Get("x-amz-sdk-checksum-algorithm")
			if declared == "" {
				declared = put.Header.Get("x-amz-checksum-algorithm")
			}
			if declared != alg {
				t.Errorf("PutObject checksum algorithm %q (x-amz-sdk-checksum-algorithm %q, x-amz-checksum-algorithm %q), want %s",
					declared, put.Header.Get("x-amz-sdk-checksum-algorithm"), put.Header.Get("x-amz-checksum-algorithm"), alg)
			}
			p := decodePut(put)
			if p.length != strconv.Itoa(size) || !bytes.Equal(p.content, content) {
				t.Errorf("PutObject declares %s bytes and carries %d, want %d", p.length, len(p.content), size)
			}
			name := "x-amz-checksum-" + strings.ToLower(alg)
			if p.checksums[name] != sum || len(p.checksums) != 1 {
				t.Errorf("PutObject checksums %v, want only %s: %s", p.checksums, name, sum)
			}
			for _, r := range h.fake.Requests() {
				if r.Op == "CreateMultipartUpload" || r.Op == "UploadPart" || r.Op == "CopyObject" {
					t.Errorf("a one-part stream sent %s", r.Op)
				}
			}

			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusSucceeded || o.Replica.ChecksumStatus != planner.ChecksumMatch || o.Replica.Encryption != planner.SSEC {
				t.Errorf("outcome = %+v, want succeeded, checksum match, SSE-C", o)
			}
			if r := h.replica(t, "s"); !bytes.Equal(r.Data, content) || r.Header[http.CanonicalHeaderKey(name)] != sum {
				t.Errorf("replica: %d bytes, checksums %v; want the source's, %s %s", len(r.Data), r.Header, name, sum)
			}
		})
	}
}

// TestStreamCompositeSourceChecksum: a composite source checksum is not
// asked of a one-part replica (it could not be equal).
func TestStreamCompositeSourceChecksum(t *testing.T) {
	const size = 500
	h := newHarness(t)
	h.cfg.Stream = true
	h.source("s", "v1", size, nil)
	h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"abc-2"`}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "SHA1", Value: "x-2", Type: "COMPOSITE"}}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
	put := h.fake.Only(t, "PutObject")
	for _, name := range []string{"x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"} {
		if got := put.Header.Get(name); got == "SHA1" {
			t.Errorf("PutObject %s = SHA1 for a composite source checksum", name)
		}
	}
	if p := decodePut(put); p.length != strconv.Itoa(size) || len(p.content) != size {
		t.Errorf("PutObject declares %s bytes and carries %d, want %d", p.length, len(p.content), size)
	}
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
		t.Errorf("outcome = %+v", o)
	}
}
