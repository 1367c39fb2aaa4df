package executor

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// sha256Of is the x-amz-checksum-sha256 of the content of a version of
// size bytes seeded by size (s3fake.Fill).
func sha256Of(size int) string { return s3fake.Checksum("SHA256", s3fake.Fill(int64(size))) }

// plainETag is the ETag of a plaintext version of size bytes seeded by
// size.
func plainETag(size int64) string { return s3fake.ETagOf(s3fake.Fill(size)) }

// fakeETag is the ETag of the 100-byte plaintext versions of these tests.
var fakeETag = plainETag(100)

// verifyTask is a plaintext version of 100 bytes with a SHA-256, replicated
// to dst/r.
func verifyTask() planner.Task {
	return planner.Task{Version: planner.Version{Key: "k", VersionID: "v1", Size: 100, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Of(100), Type: "FULL_OBJECT"}}, Decision: planner.Decision{DestKey: "r", Action: planner.Copy}, ID: 1, Dest: dstBucket}
}

func TestVerify(t *testing.T) {
	otherSHA := sha256Of(99)
	for _, tc := range []struct {
		name    string
		replica *s3fake.Object // nil: absent
		rec     planner.Replica
		task    func(*planner.Task)
		status  string
		says    []string
	}{
		{
			name:    "all equal",
			replica: &s3fake.Object{Size: 100, Header: map[string]string{"x-amz-checksum-sha256": sha256Of(100), "x-amz-checksum-type": "FULL_OBJECT"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size", "SHA256 (full object) equal", "checked"},
		},
		{
			name:    "all equal, ETag recorded unquoted",
			replica: &s3fake.Object{Size: 100, Header: map[string]string{"x-amz-checksum-sha256": sha256Of(100)}},
			rec:     planner.Replica{VersionID: "dv1", ETag: strings.Trim(fakeETag, `"`)},
			status:  planner.VerifyOK, says: []string{"SHA256 (full object) equal"},
		},
		{
			name:    "no checksum on the replica",
			replica: &s3fake.Object{Size: 100},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size checked"},
		},
		{
			name:    "no ETag recorded",
			replica: &s3fake.Object{Size: 100, ETag: `"different"`},
			rec:     planner.Replica{VersionID: "dv1"},
			status:  planner.VerifyOK,
		},
		{
			name:   "replica gone",
			rec:    planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status: planner.VerifyMismatch, says: []string{"gone"},
		},
		{
			name:    "size differs",
			replica: &s3fake.Object{Size: 99},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"size 99, source 100"},
		},
		{
			name:    "ETag differs from the recorded one",
			replica: &s3fake.Object{Size: 100, ETag: `"rewritten"`},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"ETag rewritten, was " + strings.Trim(fakeETag, `"`) + " when copied"},
		},
		{
			name:    "checksum differs",
			replica: &s3fake.Object{Size: 100, Header: map[string]string{"x-amz-checksum-sha256": otherSHA, "x-amz-checksum-type": "FULL_OBJECT"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"SHA256 differs", "replica " + otherSHA},
		},
		{
			name:    "everything differs",
			replica: &s3fake.Object{Size: 7, ETag: `"e2"`, Header: map[string]string{"x-amz-checksum-sha256": otherSHA}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"size 7, source 100", "ETag e2", "SHA256 differs"},
		},
		{
			// A composite checksum depends on the part layout.
			name:    "composite checksum differs",
			replica: &s3fake.Object{Size: 100, Header: map[string]string{"x-amz-checksum-sha256": otherSHA + "-2", "x-amz-checksum-type": "COMPOSITE"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size checked"},
		},
		{
			name:    "checksum of another algorithm",
			replica: &s3fake.Object{Size: 100, Header: map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK,
		},
		{
			name:    "replica key gone from the key file",
			replica: &s3fake.Object{Size: 100},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			task: func(t *planner.Task) {
				t.ReplicaEncryption, t.ReplicaSSECKeyID = planner.SSEC, "removed"
			},
			status: planner.VerifyMismatch, says: []string{"cannot verify", `"removed"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.replica != nil {
				replica := *tc.replica
				replica.VersionID = "dv1"
				h.fake.Put(dstBucket, "r", replica)
			}
			task := verifyTask()
			if tc.task != nil {
				tc.task(&task)
			}
			status, msg, err := h.executor(t).Verify(context.Background(), task, tc.rec, false)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if status != tc.status {
				t.Errorf("Verify = %s %q, want %s", status, msg, tc.status)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if tc.task != nil {
				if rs := h.fake.Requests(); len(rs) != 0 {
					t.Errorf("requests %v, want none", s3fake.Describe(rs))
				}
				return
			}
			head := h.fake.Only(t, "HeadObject")
			if head.Client != dstClient || head.Bucket != dstBucket || head.Key != "r" || head.Query.Get("versionId") != tc.rec.VersionID {
				t.Errorf("HEAD %v by %s, want dst /dst/r?versionId=%s", s3fake.Describe([]s3fake.Request{head}), head.Client, tc.rec.VersionID)
			}
			if got := head.Header.Get("x-amz-checksum-mode"); got != "ENABLED" {
				t.Errorf("HEAD x-amz-checksum-mode = %q, want ENABLED", got)
			}
			if rs := h.fake.Ops("GetObject"); len(rs) != 0 {
				t.Errorf("content not asked for, yet read: %v", s3fake.Describe(rs))
			}
		})
	}
}

func TestVerifyReadErrors(t *testing.T) {
	h := newHarness(t)
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "HeadObject" {
			return &s3fake.Reply{Status: http.StatusForbidden}
		}
		return nil
	})
	status, msg, err := h.executor(t).Verify(context.Background(), verifyTask(), planner.Replica{VersionID: "dv1"}, false)
	if err != nil || status != planner.VerifyMismatch || !strings.Contains(msg, "cannot read the replica") || !strings.Contains(msg, "Forbidden") {
		t.Errorf("Verify = %s %q %v, want a mismatch saying the replica cannot be read (Forbidden)", status, msg, err)
	}
}

func TestVerifyDeleteMarker(t *testing.T) {
	h := newHarness(t)
	task := planner.Task{Version: planner.Version{Key: "k", VersionID: "dm", DeleteMarker: true}, Decision: planner.Decision{DestKey: "k", Action: planner.ReplayDelete}, ID: 1, Dest: dstBucket}
	status, _, err := h.executor(t).Verify(context.Background(), task, planner.Replica{VersionID: "ddm"}, true)
	if err != nil || status != planner.VerifyOK {
		t.Errorf("Verify of a delete marker = %s, %v; want ok", status, err)
	}
	if rs := h.fake.Requests(); len(rs) != 0 {
		t.Errorf("requests %v, want none", s3fake.Describe(rs))
	}
}

// TestVerifyContent reads both sides of an SSE-C version re-keyed from A
// to B, each with its own key, and compares their SHA-256.
func TestVerifyContent(t *testing.T) {
	const size = 300
	for _, tc := range []struct {
		name       string
		replica    []byte        // nil: the source's content
		replicaGet *s3fake.Reply // the replica's GET answer instead of the fake's
		status     string
		says       string
	}{
		{name: "equal", status: planner.VerifyOK, says: "SHA-256 of the content equal"},
		{name: "different", replica: []byte(strings.Repeat("y", size)),
			status: planner.VerifyMismatch, says: "content differs"},
		// A GET shorter than the HEAD said.
		{name: "different length", replicaGet: &s3fake.Reply{Status: http.StatusOK,
			Header: s3fake.Hdr("Content-Length", strconv.Itoa(size-1)), Body: s3fake.Fill(size - 1)},
			status: planner.VerifyMismatch, says: "content differs"},
		{name: "replica unreadable", replicaGet: s3fake.Error(http.StatusForbidden, "AccessDenied"),
			status: planner.VerifyMismatch, says: "cannot read for content check: AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.source("k", "v1", size, keyA.Header())
			h.fake.Put(dstBucket, "r", s3fake.Object{VersionID: "dv9", Size: size, Data: tc.replica, Header: keyB.Header()})
			if tc.replicaGet != nil {
				h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
					if r.Op == "GetObject" && r.Bucket == dstBucket {
						return tc.replicaGet
					}
					return nil
				})
			}
			task := planner.Task{Version: planner.Version{Key: "k", VersionID: "v1", Size: size}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{DestKey: "r", Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: 1, Dest: dstBucket}
			status, msg, err := h.executor(t).Verify(context.Background(), task, planner.Replica{VersionID: "dv9", ETag: h.replica(t, "r").ETag}, true)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if status != tc.status || !strings.Contains(msg, tc.says) {
				t.Errorf("Verify = %s %q, want %s saying %q", status, msg, tc.status, tc.says)
			}
			if tc.name == "different" {
				want := fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Repeat("y", size))))
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not give the replica's SHA-256 %s", msg, want)
				}
			}

			head := h.fake.Only(t, "HeadObject")
			wantSSEC(t, head, ssecPrefix, keyB)
			var srcGet, dstGet []s3fake.Request
			for _, r := range h.fake.Ops("GetObject") {
				if r.Bucket == srcBucket {
					srcGet = append(srcGet, r)
				} else {
					dstGet = append(dstGet, r)
				}
			}
			if len(srcGet) != 1 || len(dstGet) != 1 {
				t.Fatalf("GETs %v, want one of each side", s3fake.Describe(h.fake.Ops("GetObject")))
			}
			if g := srcGet[0]; g.Client != srcClient || g.Key != "k" || g.Query.Get("versionId") != "v1" {
				t.Errorf("source GET %v by %s, want src /src/k?versionId=v1", s3fake.Describe(srcGet), g.Client)
			}
			wantSSEC(t, srcGet[0], ssecPrefix, keyA)
			if g := dstGet[0]; g.Client != dstClient || g.Key != "r" || g.Query.Get("versionId") != "dv9" {
				t.Errorf("replica GET %v by %s, want dst /dst/r?versionId=dv9", s3fake.Describe(dstGet), g.Client)
			}
			wantSSEC(t, dstGet[0], ssecPrefix, keyB)
			for _, g := range append(srcGet, dstGet...) {
				noHeaders(t, g, copySSECPrefx)
			}
		})
	}
}

// TestVerifyContentNotReadOnMismatch: a replica already found different
// is not read in full.
func TestVerifyContentNotReadOnMismatch(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 100, nil)
	h.fake.Put(dstBucket, "r", s3fake.Object{VersionID: "dv1", Size: 50})
	status, msg, err := h.executor(t).Verify(context.Background(), verifyTask(), planner.Replica{VersionID: "dv1"}, true)
	if err != nil || status != planner.VerifyMismatch || !strings.Contains(msg, "size 50") {
		t.Errorf("Verify = %s %q %v, want a size mismatch", status, msg, err)
	}
	if rs := h.fake.Ops("GetObject"); len(rs) != 0 {
		t.Errorf("GETs %v, want none", s3fake.Describe(rs))
	}
}
