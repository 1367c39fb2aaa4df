package executor

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/checksum"
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
			// The checksum, computed here, goes in a header with Content-MD5:
			// never an aws-chunked trailer, which Ceph RGW refuses.
			noTrailer(t, put)
			if got, want := put.Header.Get("Content-MD5"), checksum.MD5(content); got != want {
				t.Errorf("PutObject Content-MD5 %q, want %q (the destination has not shown it checks checksums)", got, want)
			}
			p := decodePut(put)
			if p.length != strconv.Itoa(size) || !bytes.Equal(p.content, content) {
				t.Errorf("PutObject declares %s bytes and carries %d, want %d", p.length, len(p.content), size)
			}
			name := "x-amz-checksum-" + strings.ToLower(alg)
			if put.Header.Get(name) != sum || len(p.checksums) != 1 {
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

// noTrailer fails the test if an upload carries a trailer (aws-chunked).
func noTrailer(t *testing.T, r s3fake.Request) {
	t.Helper()
	if len(r.Trailer) > 0 || r.Header.Get("x-amz-trailer") != "" || strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		t.Errorf("%s sent a trailer (x-amz-trailer %q, Content-Encoding %q, trailer %v)", r.Op,
			r.Header.Get("x-amz-trailer"), r.Header.Get("Content-Encoding"), r.Trailer)
	}
}

// TestStreamIntegrity: streamed uploads, single and in parts, send their
// checksum in a header and Content-MD5 until the destination has answered
// a checksum; one that answers none (Ceph RGW keeps no checksums) gets
// Content-MD5 on every upload. A source whose bytes are not those of its
// checksum fails, and nothing is written.
func TestStreamIntegrity(t *testing.T) {
	const small, large = 1000, 12 * mib
	for _, keeps := range []bool{true, false} {
		t.Run(fmt.Sprintf("server keeps checksums %v", keeps), func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Stream, h.cfg.Workers, h.cfg.PartWorkers = true, 1, 1
			if !keeps {
				h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
					rep := h.fake.Answer(r)
					for name := range rep.Header {
						if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") {
							rep.Header.Del(name)
						}
					}
					return rep
				})
			}
			var work []planner.KeyWork
			for i, key := range []string{"a", "b", "c"} {
				content := h.source(key, "v1", small, nil)
				sum := checksum.Of("CRC32C", content)
				work = append(work, planner.KeyWork{Key: key, Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: small, ETag: `"opaque"`},
					Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "CRC32C", Value: sum, Type: "FULL_OBJECT"}},
					Decision:   planner.Decision{Action: planner.Copy}, ID: int64(i + 1)}}})
			}
			h.source("z", "v1", large, nil)
			work = append(work, planner.KeyWork{Key: "z", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: large, ETag: `"opaque-2"`},
				Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 4}}})
			h.run(t, work...)

			puts, parts := h.fake.Ops("PutObject"), h.fake.Ops("UploadPart")
			if len(puts) != 3 || len(parts) != 3 {
				t.Fatalf("%d PutObject and %d UploadPart, want 3 and 3", len(puts), len(parts))
			}
			for i, r := range append(puts, parts...) {
				noTrailer(t, r)
				name := "x-amz-checksum-crc32c"
				if r.Op == "UploadPart" {
					name = "x-amz-checksum-crc32"
				}
				if want := checksum.Of(strings.ToUpper(strings.TrimPrefix(name, "x-amz-checksum-")), r.Content); r.Header.Get(name) != want {
					t.Errorf("%s %s: %s %q, want %q", r.Op, r.Key, name, r.Header.Get(name), want)
				}
				// The first upload's answer shows a server that checks
				// checksums: the uploads after it need no Content-MD5.
				wantMD5 := checksum.MD5(r.Content)
				if keeps && i > 0 {
					wantMD5 = ""
				}
				if got := r.Header.Get("Content-MD5"); got != wantMD5 {
					t.Errorf("%s %s: Content-MD5 %q, want %q", r.Op, r.Key, got, wantMD5)
				}
			}
			for id := range int64(4) {
				if o := h.store.outcome(t, id+1); o.Status != planner.StatusSucceeded {
					t.Errorf("task %d: %+v", id+1, o)
				}
			}
		})
	}
	t.Run("source bytes not its checksum", func(t *testing.T) {
		h := newHarness(t)
		h.cfg.Stream = true
		h.source("s", "v1", small, nil)
		h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: small, ETag: `"opaque"`},
			Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "CRC32", Value: "AAAAAA==", Type: "FULL_OBJECT"}},
			Decision:   planner.Decision{Action: planner.Copy}, ID: 1}}})
		if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed || !strings.Contains(o.Message, "not the source's AAAAAA==") {
			t.Errorf("outcome %+v, want failed: the bytes read are not the source's", o)
		}
		if n := len(h.fake.Ops("PutObject")); n != 0 {
			t.Errorf("%d PutObject for a source read wrong", n)
		}
	})
}
