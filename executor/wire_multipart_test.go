package executor

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// checksumHeaders are the flexible-checksum headers MinIO rejects on the
// CreateMultipartUpload of a multipart copy.
var checksumHeaders = []string{"x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-type"}

// partNumber is the part number of an UploadPart(Copy) request.
func partNumber(t *testing.T, r request) int {
	t.Helper()
	n, err := strconv.Atoi(r.Query.Get("partNumber"))
	if err != nil {
		t.Fatalf("%s with partNumber %q", r.Op, r.Query.Get("partNumber"))
	}
	return n
}

// sortedParts returns the requests of op ordered by part number.
func sortedParts(t *testing.T, f *fakeS3, op string) []request {
	parts := f.ops(op)
	slices.SortFunc(parts, func(a, b request) int { return partNumber(t, a) - partNumber(t, b) })
	return parts
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
	h.fake.putObject(srcBucket, key, object{size: size, header: map[string]string{
		ssecPrefix + "algorithm": "AES256", ssecPrefix + "key-MD5": keyA.md5b64,
		"Content-Type": "image/png", "Cache-Control": "max-age=60",
		"Content-Disposition": `attachment; filename="o.png"`, "Content-Encoding": "gzip",
		"Content-Language": "en", "Expires": expires,
		"x-amz-meta-color": "blue", "x-amz-meta-owner": "alice",
		"x-amz-storage-class": "STANDARD_IA",
	}, tags: [][2]string{{"project", "alpha"}, {"team name", "data & ml"}}})
	h.fake.putObject(dstBucket, key, ssecReplicaHead(size, keyB))
	h.run(t, planner.KeyWork{Key: key, Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: size, ETag: `"abc-2"`, StorageClass: "STANDARD_IA"}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: 1}}})

	// Source HEAD: from the source client, at the version, with key A.
	var srcHead request
	for _, r := range h.fake.ops("HeadObject") {
		if r.Bucket == srcBucket {
			srcHead = r
		}
	}
	if srcHead.Client != "src" || srcHead.Key != key || srcHead.Query.Get("versionId") != "v1" {
		t.Errorf("source HEAD = %+v, want src client, key %s, versionId=v1", describe([]request{srcHead}), key)
	}
	wantSSEC(t, srcHead, ssecPrefix, keyA)

	tagging := only(t, h.fake, "GetObjectTagging")
	if tagging.Client != "src" || tagging.Bucket != srcBucket || tagging.Query.Get("versionId") != "v1" {
		t.Errorf("GetObjectTagging = %v, want src client, versionId=v1", describe([]request{tagging}))
	}

	create := only(t, h.fake, "CreateMultipartUpload")
	if create.Client != "dst" || create.Bucket != dstBucket || create.Key != key {
		t.Errorf("CreateMultipartUpload = %v by %s", describe([]request{create}), create.Client)
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
		t.Fatalf("%d UploadPartCopy, want 3: %v", len(parts), describe(h.fake.requests()))
	}
	wantRanges := []string{"bytes=0-5242879", "bytes=5242880-10485759", "bytes=10485760-12582911"}
	next := int64(0)
	for i, p := range parts {
		if got := partNumber(t, p); got != i+1 {
			t.Errorf("part numbers %v, want 1..3", describe(parts))
		}
		if p.Client != "dst" || p.Key != key || p.Query.Get("uploadId") != "u1" {
			t.Errorf("part %d: %v by %s, want dst, uploadId=u1", i+1, describe([]request{p}), p.Client)
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

	complete := only(t, h.fake, "CompleteMultipartUpload")
	if complete.Client != "dst" || complete.Query.Get("uploadId") != "u1" {
		t.Errorf("Complete = %v by %s", describe([]request{complete}), complete.Client)
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
		if p.PartNumber != i+1 || p.ETag != fmt.Sprintf(`"part-%d"`, i+1) {
			t.Errorf("Complete part %d = %+v, want number %d ETag \"part-%d\"", i, p, i+1, i+1)
		}
	}
	if rs := h.fake.ops("AbortMultipartUpload"); len(rs) != 0 {
		t.Errorf("successful copy aborted: %v", describe(rs))
	}

	// Read back at the new version, with key B.
	var dstHead request
	for _, r := range h.fake.ops("HeadObject") {
		if r.Bucket == dstBucket {
			dstHead = r
		}
	}
	if dstHead.Client != "dst" || dstHead.Query.Get("versionId") != complete.Reply.Get("x-amz-version-id") {
		t.Errorf("replica HEAD %v, want dst at versionId %s", describe([]request{dstHead}), complete.Reply.Get("x-amz-version-id"))
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
	if n := len(h.fake.requests()); n != 8 {
		t.Errorf("%d requests, want 8 (HEAD, tagging, create, 3 parts, complete, HEAD): %v", n, describe(h.fake.requests()))
	}
}

// TestMultipartCopyKMS checks the SSE-KMS multipart copy: KMS headers on
// CreateMultipartUpload only, STANDARD left out, no SSE-C anywhere.
func TestMultipartCopyKMS(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/replica"
	h := newHarness(t)
	h.fake.putObject(srcBucket, "k", object{size: 11 * mib, header: map[string]string{"x-amz-server-side-encryption": "aws:kms"}})
	h.fake.putObject(dstBucket, "k", object{size: 11 * mib, header: map[string]string{
		"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": kmsKey}})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 11 * mib, StorageClass: "STANDARD"}, Inspection: planner.Inspection{Encryption: planner.SSEKMS}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEKMS, ReplicaKMSKeyID: kmsKey}, ID: 1}}})
	create := only(t, h.fake, "CreateMultipartUpload")
	if create.Header.Get("x-amz-server-side-encryption") != "aws:kms" ||
		create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id") != kmsKey {
		t.Errorf("CreateMultipartUpload SSE headers: %q / %q", create.Header.Get("x-amz-server-side-encryption"),
			create.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"))
	}
	noHeaders(t, create, append([]string{"x-amz-storage-class", "x-amz-tagging"}, checksumHeaders...)...)
	parts := sortedParts(t, h.fake, "UploadPartCopy")
	if len(parts) != 3 || parts[2].Header.Get("x-amz-copy-source-range") != "bytes=10485760-11534335" {
		t.Errorf("parts = %v", describe(parts))
	}
	for _, r := range h.fake.requests() {
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
	h.fake.putObject(srcBucket, "k", object{size: 12 * mib})
	h.fake.setHook(func(r request) *reply {
		if r.Op == "UploadPartCopy" && r.Query.Get("partNumber") == "2" {
			return s3Error(http.StatusForbidden, "AccessDenied")
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{
		{Version: planner.Version{VersionID: "v1", Size: 12 * mib}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: 1},
		{Version: planner.Version{VersionID: "v2", Size: 10}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}, ID: 2},
		{Version: planner.Version{VersionID: "v3", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 3},
	}})

	create := only(t, h.fake, "CreateMultipartUpload")
	abort := only(t, h.fake, "AbortMultipartUpload")
	if abort.Client != "dst" || abort.Method != http.MethodDelete || abort.Bucket != dstBucket || abort.Key != "k" ||
		abort.Query.Get("uploadId") != "u1" {
		t.Errorf("abort = %v by %s, want dst DELETE /dst/k?uploadId=u1", describe([]request{abort}), abort.Client)
	}
	if create.Key != abort.Key {
		t.Errorf("aborted key %q, created %q", abort.Key, create.Key)
	}
	if rs := h.fake.ops("CompleteMultipartUpload"); len(rs) != 0 {
		t.Errorf("failed upload completed: %v", describe(rs))
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
	for _, r := range h.fake.requests() {
		if strings.Contains(r.RawQuery, "v2") || strings.Contains(r.RawQuery, "v3") ||
			strings.Contains(r.Header.Get("x-amz-copy-source"), "v2") || r.Op == "DeleteObject" || r.Op == "CopyObject" {
			t.Errorf("request for a held-back version: %v", describe([]request{r}))
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
			h.fake.putObject(srcBucket, "k", object{size: 6 * mib})
			h.fake.setHook(func(r request) *reply {
				if r.Op == op {
					return s3Error(http.StatusOK, "InternalError")
				}
				return nil
			})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 6 * mib}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 1}}})
			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusFailed || o.ErrorCode != "InternalError" || o.Replica.VersionID != "" {
				t.Errorf("outcome = %+v, want failed InternalError", o)
			}
			if abort := only(t, h.fake, "AbortMultipartUpload"); abort.Query.Get("uploadId") != "u1" {
				t.Errorf("abort %v, want uploadId=u1", describe([]request{abort}))
			}
			for _, r := range h.fake.ops("HeadObject") {
				if r.Bucket == dstBucket {
					t.Errorf("failed copy read back: %v", describe([]request{r}))
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
			h.fake.putObject(srcBucket, "k", object{size: size})
			h.fake.putObject(dstBucket, "k", object{size: size})
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
			h.fake.putObject(srcBucket, "s", object{size: tc.size, header: map[string]string{
				"Content-Type": "text/plain", "x-amz-meta-color": "red"}, tags: [][2]string{{"a", "1"}}})
			h.fake.putObject(dstBucket, "s", ssecReplicaHead(tc.size, keyB))
			h.run(t, planner.KeyWork{Key: "s", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: tc.size}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: 1}}})

			// One GET, or one ranged GET per part.
			gets := h.fake.ops("GetObject")
			if want := max(tc.parts, 1); len(gets) != want {
				t.Errorf("%d GetObject, want %d: %v", len(gets), want, describe(gets))
			}
			ranges := map[string]bool{}
			for _, get := range gets {
				if get.Client != "src" || get.Query.Get("versionId") != "v1" {
					t.Errorf("GET %v by %s", describe([]request{get}), get.Client)
				}
				wantSSEC(t, get, ssecPrefix, keyA)
				ranges[get.Header.Get("Range")] = true
			}
			if tc.parts == 3 && !(ranges["bytes=0-5242879"] && ranges["bytes=5242880-10485759"] && ranges["bytes=10485760-12582911"]) {
				t.Errorf("part GETs have ranges %v, want the three 5 MiB parts", ranges)
			}
			var writes []request
			for _, r := range h.fake.requests() {
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
			first := only(t, h.fake, map[bool]string{true: "CreateMultipartUpload", false: "PutObject"}[tc.parts > 0])
			if first.Header.Get("Content-Type") != "text/plain" || first.Header.Get("x-amz-meta-color") != "red" ||
				first.Header.Get("x-amz-tagging") != "a=1" {
				t.Errorf("%s attributes: type %q meta %q tagging %q", first.Op, first.Header.Get("Content-Type"),
					first.Header.Get("x-amz-meta-color"), first.Header.Get("x-amz-tagging"))
			}
			if n := len(h.fake.ops("UploadPart")); n != tc.parts {
				t.Errorf("%d UploadPart, want %d", n, tc.parts)
			}
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Errorf("outcome = %+v", o)
			}
		})
	}
}

// TestEmptyUploadPartCopyBody: a part copy answered 200 without a body is
// a failed version (and an aborted upload), not a crash.
func TestEmptyUploadPartCopyBody(t *testing.T) {
	h := newHarness(t)
	h.fake.putObject(srcBucket, "k", object{size: 6 * mib})
	h.fake.setHook(func(r request) *reply {
		if r.Op == "UploadPartCopy" {
			return &reply{status: http.StatusOK}
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{Version: planner.Version{VersionID: "v1", Size: 6 * mib}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, ID: 1}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed {
		t.Errorf("outcome %+v, want failed", o)
	}
	only(t, h.fake, "AbortMultipartUpload")
}
