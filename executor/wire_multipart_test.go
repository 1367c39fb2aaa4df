package executor

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// checksumHeaders are the flexible-checksum headers MinIO rejects on the
// CreateMultipartUpload of a multipart copy.
var checksumHeaders = []string{"x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-type"}

// partNumber is the part number of an UploadPart(Copy) request.
func partNumber(t *testing.T, r s3fake.Request) int {
	t.Helper()
	n, err := strconv.Atoi(r.Query.Get("partNumber"))
	if err != nil {
		t.Fatalf("%s with partNumber %q", r.Op, r.Query.Get("partNumber"))
	}
	return n
}

// sortedParts returns the requests of op ordered by part number.
func sortedParts(t *testing.T, f *s3fake.Server, op string) []s3fake.Request {
	parts := f.Ops(op)
	slices.SortFunc(parts, func(a, b s3fake.Request) int { return partNumber(t, a) - partNumber(t, b) })
	return parts
}

// partETag is the ETag the server gave an UploadPartCopy.
func partETag(t *testing.T, r s3fake.Request) string {
	t.Helper()
	var res struct{ ETag string }
	if err := xml.Unmarshal(r.ReplyBody, &res); err != nil || res.ETag == "" {
		t.Fatalf("%s answer %q: %v", r.Op, r.ReplyBody, err)
	}
	return res.ETag
}

// completeBody is the XML body of CompleteMultipartUpload.
type completeBody struct {
	Parts []struct {
		PartNumber int
		ETag       string
	} `xml:"Part"`
}

// TestMultipartCopySSEC follows a multipart copy of an SSE-C version with
// re-keying, request by request.
func TestMultipartCopySSEC(t *testing.T) {
	const (
		key     = "big/object.bin"
		size    = 12 * mib
		expires = "Wed, 21 Oct 2026 07:28:00 GMT"
	)
	h := newHarness(t)
	h.fake.Put(srcBucket, key, s3fake.Object{VersionID: "v1", Size: size, Header: keyA.Header(
		"Content-Type", "image/png", "Cache-Control", "max-age=60",
		"Content-Disposition", `attachment; filename="o.png"`, "Content-Encoding", "gzip",
		"Content-Language", "en", "Expires", expires,
		"x-amz-meta-color", "blue", "x-amz-meta-owner", "alice",
		"x-amz-storage-class", "STANDARD_IA",
	), Tags: map[string]string{"project": "alpha", "team name": "data & ml"}})
	h.run(t, planner.KeyWork{Key: key, Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"abc-2"`, StorageClass: "STANDARD_IA"}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: 1}}})

	// Source HEAD: from the source client, at the version, with key A.
	var srcHead s3fake.Request
	for _, r := range h.fake.Ops("HeadObject") {
		if r.Bucket == srcBucket {
			srcHead = r
		}
	}
	if srcHead.Client != "src" || srcHead.Key != key || srcHead.Query.Get("versionId") != "v1" {
		t.Errorf("source HEAD = %+v, want src client, key %s, versionId=v1", s3fake.Describe([]s3fake.Request{srcHead}), key)
	}
	wantSSEC(t, srcHead, ssecPrefix, keyA)

	// The source's tags are read; the first tagged replica made in parts
	// is read back to learn whether the endpoint kept them (see carryTags).
	taggings := h.fake.Ops("GetObjectTagging")
	if len(taggings) != 2 {
		t.Fatalf("GetObjectTagging %v, want the source's, then the replica's", s3fake.Describe(taggings))
	}
	if tg := taggings[0]; tg.Client != "src" || tg.Bucket != srcBucket || tg.Query.Get("versionId") != "v1" {
		t.Errorf("GetObjectTagging = %v, want src client, versionId=v1", s3fake.Describe([]s3fake.Request{tg}))
	}
	if tg := taggings[1]; tg.Client != "dst" || tg.Bucket != dstBucket || tg.Query.Get("versionId") == "" {
		t.Errorf("GetObjectTagging = %v, want the replica's version on dst", s3fake.Describe([]s3fake.Request{tg}))
	}
	if puts := h.fake.Ops("PutObjectTagging"); len(puts) != 0 {
		t.Errorf("%v: the endpoint kept the tags", s3fake.Describe(puts))
	}

	create := h.fake.Only(t, "CreateMultipartUpload")
	if create.Client != "dst" || create.Bucket != dstBucket || create.Key != key {
		t.Errorf("CreateMultipartUpload = %v by %s", s3fake.Describe([]s3fake.Request{create}), create.Client)
	}
	wantSSEC(t, create, ssecPrefix, keyB)
	for name, want := range map[string]string{
		"Content-Type": "image/png", "Cache-Control": "max-age=60",
		"Content-Disposition": `attachment; filename="o.png"`, "Content-Encoding": "gzip",
		"Content-Language": "en", "Expires": expires,
		"x-amz-meta-color": "blue", "x-amz-meta-owner": "alice", "x-amz-storage-class": "STANDARD_IA",
	} {
		if got := create.Header.Get(name); got != want {
			t.Errorf("CreateMultipartUpload %s = %q, want %q", name, got, want)
		}
	}
	tags, err := url.ParseQuery(create.Header.Get("x-amz-tagging"))
	if want := (url.Values{"project": {"alpha"}, "team name": {"data & ml"}}); err != nil || !reflect.DeepEqual(tags, want) {
		t.Errorf("x-amz-tagging = %q decodes to %v (%v), want %v", create.Header.Get("x-amz-tagging"), tags, err, want)
	}
	noHeaders(t, create, append([]string{"x-amz-server-side-encryption-aws-kms-key-id", "x-amz-copy-source"}, checksumHeaders...)...)
	if v := create.Header.Values("x-amz-server-side-encryption"); v != nil {
		t.Errorf("CreateMultipartUpload x-amz-server-side-encryption = %q, want absent for SSE-C", v)
	}

	// Parts: 1..3, each with both keys, ranges tiling the object.
	parts := sortedParts(t, h.fake, "UploadPartCopy")
	if len(parts) != 3 {
		t.Fatalf("%d UploadPartCopy, want 3: %v", len(parts), s3fake.Describe(h.fake.Requests()))
	}
	wantRanges := []string{"bytes=0-5242879", "bytes=5242880-10485759", "bytes=10485760-12582911"}
	next := int64(0)
	for i, p := range parts {
		if got := partNumber(t, p); got != i+1 {
			t.Errorf("part numbers %v, want 1..3", s3fake.Describe(parts))
		}
		if p.Client != dstClient || p.Key != key || p.Query.Get("uploadId") != "upload-1" {
			t.Errorf("part %d: %v by %s, want dst, uploadId=upload-1", i+1, s3fake.Describe([]s3fake.Request{p}), p.Client)
		}
		if got, want := p.Header.Get("x-amz-copy-source"), "src/big/object.bin?versionId=v1"; got != want {
			t.Errorf("part %d x-amz-copy-source = %q, want %q", i+1, got, want)
		}
		wantSSEC(t, p, copySSECPrefx, keyA)
		wantSSEC(t, p, ssecPrefix, keyB)
		rng := p.Header.Get("x-amz-copy-source-range")
		if rng != wantRanges[i] {
			t.Errorf("part %d range %q, want %q", i+1, rng, wantRanges[i])
		}
		var first, last int64
		if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &first, &last); err != nil || first != next || last < first {
			t.Errorf("part %d range %q does not continue at byte %d", i+1, rng, next)
		}
		next = last + 1
		noHeaders(t, p, checksumHeaders...)
	}
	if next != size {
		t.Errorf("parts cover bytes [0, %d), want [0, %d)", next, size)
	}

	complete := h.fake.Only(t, "CompleteMultipartUpload")
	if complete.Client != dstClient || complete.Query.Get("uploadId") != "upload-1" {
		t.Errorf("Complete = %v by %s", s3fake.Describe([]s3fake.Request{complete}), complete.Client)
	}
	wantSSEC(t, complete, ssecPrefix, keyB)
	noHeaders(t, complete, append([]string{"x-amz-copy-source"}, checksumHeaders...)...)
	var body completeBody
	if err := xml.Unmarshal(complete.Body, &body); err != nil {
		t.Fatalf("Complete body %q: %v", complete.Body, err)
	}
	if len(body.Parts) != 3 {
		t.Fatalf("Complete lists %d parts, want 3: %s", len(body.Parts), complete.Body)
	}
	for i, p := range body.Parts {
		if want := partETag(t, parts[i]); p.PartNumber != i+1 || p.ETag != want {
			t.Errorf("Complete part %d = %+v, want number %d ETag %s (the part copy's)", i, p, i+1, want)
		}
	}
	if rs := h.fake.Ops("AbortMultipartUpload"); len(rs) != 0 {
		t.Errorf("successful copy aborted: %v", s3fake.Describe(rs))
	}

	// Read back at the new version, with key B.
	var dstHead s3fake.Request
	for _, r := range h.fake.Ops("HeadObject") {
		if r.Bucket == dstBucket {
			dstHead = r
		}
	}
	if dstHead.Client != "dst" || dstHead.Query.Get("versionId") != complete.Reply.Get("x-amz-version-id") {
		t.Errorf("replica HEAD %v, want dst at versionId %s", s3fake.Describe([]s3fake.Request{dstHead}), complete.Reply.Get("x-amz-version-id"))
	}
	wantSSEC(t, dstHead, ssecPrefix, keyB)

	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusSucceeded || o.Replica.VersionID != complete.Reply.Get("x-amz-version-id") || o.Replica.Encryption != planner.SSEC {
		t.Errorf("outcome = %+v", o)
	}
	if !strings.Contains(o.Message, "3 parts") {
		t.Errorf("outcome message %q does not say 3 parts", o.Message)
	}
	// The whole exchange, in order of dependency.
	if n := len(h.fake.Requests()); n != 9 {
		t.Errorf("%d requests, want 9 (HEAD, tagging, create, 3 parts, complete, the replica's tagging, HEAD): %v", n, s3fake.Describe(h.fake.Requests()))
	}
	// The replica: the source's bytes in three parts, under key B, with
	// the source's attributes.
	r := h.replica(t, key)
	if !bytes.Equal(r.Data, s3fake.Fill(size)) || !slices.Equal(r.PartSizes, []int64{5 * mib, 5 * mib, 2 * mib}) ||
		r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != keyB.MD5 || r.Header["Content-Type"] != "image/png" ||
		r.Tags["team name"] != "data & ml" || r.Header["X-Amz-Storage-Class"] != "STANDARD_IA" {
		t.Errorf("replica %s: %d bytes in parts %v, headers %v, tags %v", r.VersionID, len(r.Data), r.PartSizes, r.Header, r.Tags)
	}
	if us := h.fake.Uploads(dstBucket); len(us) != 0 {
		t.Errorf("uploads left: %+v", us)
	}
}

// TestMultipartCopyKMS checks the SSE-KMS multipart copy: KMS headers on
// CreateMultipartUpload only, STANDARD left out, no SSE-C anywhere.
func TestMultipartCopyKMS(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/replica"
	h := newHarness(t)
	h.source("k", "v1", 11*mib, map[string]string{"x-amz-server-side-encryption": "aws:kms"})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 11 * mib, StorageClass: "STANDARD"}, Inspection: planner.Inspection{Encryption: planner.SSEKMS}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEKMS, ReplicaKMSKeyID: kmsKey}, ID: 1}}})
	create := h.fake.Only(t, "CreateMultipartUpload")
	if create.Header.Get("x-amz-server-side-encryption") != "aws:kms" ||
		create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id") != kmsKey {
		t.Errorf("CreateMultipartUpload SSE headers: %q / %q", create.Header.Get("x-amz-server-side-encryption"),
			create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"))
	}
	noHeaders(t, create, append([]string{"x-amz-storage-class", "x-amz-tagging"}, checksumHeaders...)...)
	parts := sortedParts(t, h.fake, "UploadPartCopy")
	if len(parts) != 3 || parts[2].Header.Get("x-amz-copy-source-range") != "bytes=10485760-11534335" {
		t.Errorf("parts = %v", s3fake.Describe(parts))
	}
	for _, r := range h.fake.Requests() {
		noHeaders(t, r, ssecPrefix, copySSECPrefx)
	}
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || o.Replica.KMSKeyID != kmsKey {
		t.Errorf("outcome = %+v", o)
	}
}

// TestMultipartPartFailure checks that a part answered 403 aborts the
// upload it belongs to, is recorded with its code and status, and holds
// back the newer versions of the key without a request.
func TestMultipartPartFailure(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 12*mib, keyA.Header())
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "UploadPartCopy" && r.Query.Get("partNumber") == "2" {
			return s3fake.Error(http.StatusForbidden, "AccessDenied")
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "v1", Size: 12 * mib}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: 1},
		{Version: planner.Version{VersionID: "v2", Size: 10}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 2},
		{Version: planner.Version{VersionID: "v3", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 3},
	}})

	create := h.fake.Only(t, "CreateMultipartUpload")
	abort := h.fake.Only(t, "AbortMultipartUpload")
	if abort.Client != dstClient || abort.Method != http.MethodDelete || abort.Bucket != dstBucket || abort.Key != "k" ||
		abort.Query.Get("uploadId") != "upload-1" || abort.Status != http.StatusNoContent {
		t.Errorf("abort = %v by %s, want dst DELETE /dst/k?uploadId=upload-1", s3fake.Describe([]s3fake.Request{abort}), abort.Client)
	}
	if us := h.fake.Uploads(dstBucket); len(us) != 0 {
		t.Errorf("uploads left: %+v", us)
	}
	if create.Key != abort.Key {
		t.Errorf("aborted key %q, created %q", abort.Key, create.Key)
	}
	if rs := h.fake.Ops("CompleteMultipartUpload"); len(rs) != 0 {
		t.Errorf("failed upload completed: %v", s3fake.Describe(rs))
	}

	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusFailed || o.ErrorCode != "AccessDenied" || o.HTTPStatus != http.StatusForbidden {
		t.Errorf("outcome = %+v, want failed AccessDenied 403", o)
	}
	if !strings.Contains(o.Message, "part 2") {
		t.Errorf("message %q does not name part 2", o.Message)
	}
	for _, id := range []int64{2, 3} {
		if o := h.store.outcome(t, id); o.Status != planner.StatusFailed || o.ErrorCode != CodePrecedingVersionFailed || o.HTTPStatus != 0 {
			t.Errorf("task %d outcome = %+v, want failed %s", id, o, CodePrecedingVersionFailed)
		}
	}
	// Outcomes in version order: the failure first.
	if got := outcomeIDs(h.store); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("outcomes recorded in order %v, want [1 2 3]", got)
	}
	for _, r := range h.fake.Requests() {
		if strings.Contains(r.RawQuery, "v2") || strings.Contains(r.RawQuery, "v3") ||
			strings.Contains(r.Header.Get("x-amz-copy-source"), "v2") || r.Op == "DeleteObject" || r.Op == "CopyObject" {
			t.Errorf("request for a held-back version: %v", s3fake.Describe([]s3fake.Request{r}))
		}
	}
}

func outcomeIDs(s *memStore) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, len(s.outcomes))
	for i, o := range s.outcomes {
		ids[i] = o.TaskID
	}
	return ids
}

// TestMultipart200Errors checks that a 200 with an <Error> body on
// UploadPartCopy or CompleteMultipartUpload fails the copy and aborts.
func TestMultipart200Errors(t *testing.T) {
	for _, op := range []string{"UploadPartCopy", "CompleteMultipartUpload"} {
		t.Run(op, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.PartWorkers = 1
			h.source("k", "v1", 6*mib, nil)
			h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
				if r.Op == op {
					return s3fake.Error(http.StatusOK, "InternalError")
				}
				return nil
			})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 6 * mib}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 1}}})
			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusFailed || o.ErrorCode != "InternalError" || o.Replica.VersionID != "" {
				t.Errorf("outcome = %+v, want failed InternalError", o)
			}
			if abort := h.fake.Only(t, "AbortMultipartUpload"); abort.Query.Get("uploadId") != "upload-1" || abort.Status != http.StatusNoContent {
				t.Errorf("abort %v, want uploadId=upload-1", s3fake.Describe([]s3fake.Request{abort}))
			}
			if vs, us := h.fake.Versions(dstBucket, "k"), h.fake.Uploads(dstBucket); len(vs) != 0 || len(us) != 0 {
				t.Errorf("destination versions %+v, uploads %+v; want none", vs, us)
			}
			for _, r := range h.fake.Ops("HeadObject") {
				if r.Bucket == dstBucket {
					t.Errorf("failed copy read back: %v", s3fake.Describe([]s3fake.Request{r}))
				}
			}
		})
	}
}

// TestMultipartRangesLayouts checks part ranges for sizes around the part
// size: every byte in exactly one part, parts of the part size but the
// last.
func TestMultipartRangesLayouts(t *testing.T) {
	for _, size := range []int64{5*mib + 1, 10 * mib, 10*mib + 1, 15*mib - 1} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			h := newHarness(t)
			data := h.source("k", "v1", size, nil)
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 1}}})
			parts := sortedParts(t, h.fake, "UploadPartCopy")
			want := int((size + 5*mib - 1) / (5 * mib))
			if len(parts) != want {
				t.Fatalf("%d parts, want %d", len(parts), want)
			}
			next := int64(0)
			for i, p := range parts {
				var first, last int64
				fmt.Sscanf(p.Header.Get("x-amz-copy-source-range"), "bytes=%d-%d", &first, &last)
				if partNumber(t, p) != i+1 || first != next || (i < len(parts)-1 && last-first+1 != 5*mib) {
					t.Errorf("part %d: %s", partNumber(t, p), p.Header.Get("x-amz-copy-source-range"))
				}
				next = last + 1
			}
			if next != size {
				t.Errorf("parts end at %d, want %d", next, size)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v", o)
			}
			if r := h.replica(t, "k"); !bytes.Equal(r.Data, data) || len(r.PartSizes) != want {
				t.Errorf("replica of %d bytes in parts %v, want the source's %d bytes in %d parts", len(r.Data), r.PartSizes, size, want)
			}
		})
	}
}

// TestStreamCopySSEC checks the streamed copy (GET + upload): the source
// GET carries key A, every write carries key B and the source's
// attributes, in one PutObject or in parts.
func TestStreamCopySSEC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int64
		parts int
	}{
		{"single", 1000, 0},
		{"parts", 12 * mib, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Stream = true
			h.fake.Put(srcBucket, "s", s3fake.Object{VersionID: "v1", Size: tc.size,
				Header: keyA.Header("Content-Type", "text/plain", "x-amz-meta-color", "red"), Tags: map[string]string{"a": "1"}})
			h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: tc.size}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: 1}}})

			// One GET, or one ranged GET per part.
			gets := h.fake.Ops("GetObject")
			if want := max(tc.parts, 1); len(gets) != want {
				t.Errorf("%d GetObject, want %d: %v", len(gets), want, s3fake.Describe(gets))
			}
			ranges := map[string]bool{}
			for _, get := range gets {
				if get.Client != "src" || get.Query.Get("versionId") != "v1" {
					t.Errorf("GET %v by %s", s3fake.Describe([]s3fake.Request{get}), get.Client)
				}
				wantSSEC(t, get, ssecPrefix, keyA)
				ranges[get.Header.Get("Range")] = true
			}
			if tc.parts == 3 && !(ranges["bytes=0-5242879"] && ranges["bytes=5242880-10485759"] && ranges["bytes=10485760-12582911"]) {
				t.Errorf("part GETs have ranges %v, want the three 5 MiB parts", ranges)
			}
			var writes []s3fake.Request
			for _, r := range h.fake.Requests() {
				switch r.Op {
				case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
					writes = append(writes, r)
				case "CopyObject", "UploadPartCopy":
					t.Errorf("stream mode sent %s", r.Op)
				}
			}
			for _, w := range writes {
				if w.Client != "dst" {
					t.Errorf("%s sent by %s", w.Op, w.Client)
				}
				wantSSEC(t, w, ssecPrefix, keyB)
				noHeaders(t, w, copySSECPrefx)
			}
			first := h.fake.Only(t, map[bool]string{true: "CreateMultipartUpload", false: "PutObject"}[tc.parts > 0])
			if first.Header.Get("Content-Type") != "text/plain" || first.Header.Get("x-amz-meta-color") != "red" ||
				first.Header.Get("x-amz-tagging") != "a=1" {
				t.Errorf("%s attributes: type %q meta %q tagging %q", first.Op, first.Header.Get("Content-Type"),
					first.Header.Get("x-amz-meta-color"), first.Header.Get("x-amz-tagging"))
			}
			if n := len(h.fake.Ops("UploadPart")); n != tc.parts {
				t.Errorf("%d UploadPart, want %d", n, tc.parts)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v", o)
			}
			r := h.replica(t, "s")
			if !bytes.Equal(r.Data, s3fake.Fill(tc.size)) || len(r.PartSizes) != tc.parts || r.Tags["a"] != "1" ||
				r.Header["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] != keyB.MD5 || r.Header["X-Amz-Meta-Color"] != "red" {
				t.Errorf("replica: %d bytes in parts %v, headers %v, tags %v", len(r.Data), r.PartSizes, r.Header, r.Tags)
			}
		})
	}
}

// TestEmptyUploadPartCopyBody: a part copy answered 200 without a body is
// a failed version (and an aborted upload), not a crash.
func TestEmptyUploadPartCopyBody(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 6*mib, nil)
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "UploadPartCopy" {
			return &s3fake.Reply{Status: http.StatusOK}
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 6 * mib}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 1}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed {
		t.Errorf("outcome %+v, want failed", o)
	}
	h.fake.Only(t, "AbortMultipartUpload")
}

// TestMultipartTagsDropped: an endpoint that drops the tags sent on
// CreateMultipartUpload (as Ceph RGW does): the first tagged replica made in
// parts is read back, found without its tags, and given them with
// PutObjectTagging on its version; the next one gets them at once, without
// reading back. An untagged one gets neither request.
func TestMultipartTagsDropped(t *testing.T) {
	const size = 6 * mib
	h := newHarness(t)
	h.cfg.Workers = 1
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CreateMultipartUpload" {
			r.Header.Del("x-amz-tagging")
			return h.fake.Answer(r)
		}
		return nil
	})
	tags := map[string]map[string]string{"a": {"project": "alpha"}, "b": {"team": "data & ml", "n": "2"}, "c": nil}
	var work []planner.KeyWork
	for i, key := range []string{"a", "b", "c"} {
		h.fake.Put(srcBucket, key, s3fake.Object{VersionID: "v1", Size: size, Tags: tags[key]})
		work = append(work, planner.KeyWork{Key: key, Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"e"`},
			Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: int64(i + 1)}}})
	}
	h.run(t, work...)
	var got []string
	for _, r := range h.fake.Requests() {
		if (r.Op == "GetObjectTagging" || r.Op == "PutObjectTagging") && r.Bucket == dstBucket {
			got = append(got, r.Op+" "+r.Key+"@"+r.Query.Get("versionId"))
		}
	}
	if want := []string{"GetObjectTagging a@dst-v1", "PutObjectTagging a@dst-v1", "PutObjectTagging b@dst-v2"}; !slices.Equal(got, want) {
		t.Errorf("requests on the replicas' tags %v, want %v", got, want)
	}
	for _, key := range []string{"a", "b", "c"} {
		if r := h.replica(t, key); !maps.Equal(r.Tags, tags[key]) && len(r.Tags)+len(tags[key]) > 0 {
			t.Errorf("replica %s: tags %v, want %v", key, r.Tags, tags[key])
		}
		if o := h.store.outcome(t, map[string]int64{"a": 1, "b": 2, "c": 3}[key]); o.Status != planner.StatusSucceeded {
			t.Errorf("%s: %+v", key, o)
		}
	}
}
