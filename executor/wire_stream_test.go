package executor

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// putPayload is what a PutObject uploads: its content and the checksum
// sent with it (header or aws-chunked trailer), by header name.
type putPayload struct {
	content   []byte
	length    string // declared content length (decoded, for aws-chunked)
	checksums map[string]string
}

// decodePut reads a PutObject as S3 does, aws-chunked or not.
func decodePut(t *testing.T, r request) putPayload {
	t.Helper()
	p := putPayload{checksums: map[string]string{}}
	for name, v := range r.Header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-algorithm" && n != "x-amz-checksum-type" {
			p.checksums[n] = v[0]
		}
	}
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		p.content, p.length = r.Body, r.Header.Get("Content-Length")
		return p
	}
	p.length = r.Header.Get("x-amz-decoded-content-length")
	br := bufio.NewReader(bytes.NewReader(r.Body))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("aws-chunked body %q: %v", r.Body, err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			t.Fatalf("aws-chunked chunk size %q: %v", line, err)
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			t.Fatalf("aws-chunked chunk: %v", err)
		}
		p.content = append(p.content, chunk...)
		br.ReadString('\n') // the chunk's CRLF
	}
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if k, v, ok := strings.Cut(line, ":"); ok {
			p.checksums[strings.ToLower(k)] = v
		}
		if err != nil || line == "" {
			break
		}
	}
	return p
}

func checksumOf(alg string, b []byte) string {
	var h hash.Hash
	switch alg {
	case "SHA256":
		h = sha256.New()
	case "SHA1":
		h = sha1.New()
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	}
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestStreamSinglePartChecksum: a streamed object of one part is sent
// with its length and checksummed with the source's algorithm, so that
// the replica's checksum can be compared with the source's; the source
// is read with its SSE-C key and the replica written with its own.
func TestStreamSinglePartChecksum(t *testing.T) {
	const size = 1000
	content := []byte(strings.Repeat("x", size)) // the fake's body
	for _, alg := range []string{"SHA256", "SHA1", "CRC32", "CRC32C"} {
		t.Run(alg, func(t *testing.T) {
			sum := checksumOf(alg, content)
			h := newHarness(t)
			h.cfg.Stream = true
			h.fake.putObject(srcBucket, "s", object{size: size, header: map[string]string{
				ssecPrefix + "algorithm": "AES256", ssecPrefix + "key-MD5": keyA.md5b64}})
			replica := ssecReplicaHead(size, keyB)
			replica.header["x-amz-checksum-"+strings.ToLower(alg)] = sum
			replica.header["x-amz-checksum-type"] = "FULL_OBJECT"
			h.fake.putObject(dstBucket, "s", replica)
			h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id, Checksum: planner.Checksum{Algorithm: alg, Value: sum, Type: "FULL_OBJECT"}}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: 1}}})

			get := only(t, h.fake, "GetObject")
			if get.Client != "src" || get.Bucket != srcBucket || get.Query.Get("versionId") != "v1" {
				t.Errorf("GET %v by %s, want src at v1", describe([]request{get}), get.Client)
			}
			wantSSEC(t, get, ssecPrefix, keyA)

			put := only(t, h.fake, "PutObject")
			if put.Client != "dst" || put.Bucket != dstBucket || put.Key != "s" {
				t.Errorf("PUT %v by %s, want dst /dst/s", describe([]request{put}), put.Client)
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
			p := decodePut(t, put)
			if p.length != strconv.Itoa(size) || !bytes.Equal(p.content, content) {
				t.Errorf("PutObject declares %s bytes and carries %d, want %d", p.length, len(p.content), size)
			}
			name := "x-amz-checksum-" + strings.ToLower(alg)
			if p.checksums[name] != sum || len(p.checksums) != 1 {
				t.Errorf("PutObject checksums %v, want only %s: %s", p.checksums, name, sum)
			}
			for _, r := range h.fake.requests() {
				if r.Op == "CreateMultipartUpload" || r.Op == "UploadPart" || r.Op == "CopyObject" {
					t.Errorf("a one-part stream sent %s", r.Op)
				}
			}

			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusSucceeded || o.Replica.ChecksumStatus != planner.ChecksumMatch || o.Replica.Encryption != planner.SSEC {
				t.Errorf("outcome = %+v, want succeeded, checksum match, SSE-C", o)
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
	h.fake.putObject(srcBucket, "s", object{size: size})
	h.fake.putObject(dstBucket, "s", object{size: size})
	h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"abc-2"`}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "SHA1", Value: "x-2", Type: "COMPOSITE"}}, Decision: planner.Decision{Action: planner.Copy}, ID: 1}}})
	put := only(t, h.fake, "PutObject")
	for _, name := range []string{"x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"} {
		if got := put.Header.Get(name); got == "SHA1" {
			t.Errorf("PutObject %s = SHA1 for a composite source checksum", name)
		}
	}
	if p := decodePut(t, put); p.length != strconv.Itoa(size) || len(p.content) != size {
		t.Errorf("PutObject declares %s bytes and carries %d, want %d", p.length, len(p.content), size)
	}
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
		t.Errorf("outcome = %+v", o)
	}
}
