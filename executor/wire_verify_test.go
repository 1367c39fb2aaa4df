package executor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// executor is the harness's executor, for calls other than Run.
func (h *harness) executor(t *testing.T) *Executor {
	t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ex, err := New(h.cfg, h.fake.client(srcAccessKey), h.fake.client(dstAccessKey), nil, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ex
}

// sha256Of is the x-amz-checksum-sha256 of the fake's body for an
// object of size bytes ("x" repeated).
func sha256Of(size int) string {
	sum := sha256.Sum256([]byte(strings.Repeat("x", size)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

const fakeETag = `"0123456789abcdef0123456789abcdef"` // the fake's default ETag

// verifyTask is a plaintext version of 100 bytes with a SHA-256, replicated
// to dst/r.
func verifyTask() planner.Task {
	return planner.Task{Version: planner.Version{Key: "k", VersionID: "v1", Size: 100, ETag: fakeETag}, Inspection: planner.Inspection{Encryption: planner.NotSSE, Checksum: planner.Checksum{Algorithm: "SHA256", Value: sha256Of(100), Type: "FULL_OBJECT"}}, Decision: planner.Decision{DestKey: "r", Action: planner.Copy}, ID: 1, Dest: dstBucket}
}

func TestVerify(t *testing.T) {
	otherSHA := sha256Of(99)
	for _, tc := range []struct {
		name    string
		replica *object // nil: absent
		rec     planner.Replica
		task    func(*planner.Task)
		status  string
		says    []string
	}{
		{
			name:    "all equal",
			replica: &object{size: 100, header: map[string]string{"x-amz-checksum-sha256": sha256Of(100), "x-amz-checksum-type": "FULL_OBJECT"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size", "SHA256 (full object) equal", "checked"},
		},
		{
			name:    "all equal, ETag recorded unquoted",
			replica: &object{size: 100, header: map[string]string{"x-amz-checksum-sha256": sha256Of(100)}},
			rec:     planner.Replica{VersionID: "dv1", ETag: strings.Trim(fakeETag, `"`)},
			status:  planner.VerifyOK, says: []string{"SHA256 (full object) equal"},
		},
		{
			name:    "no checksum on the replica",
			replica: &object{size: 100},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size checked"},
		},
		{
			name:    "no ETag recorded",
			replica: &object{size: 100, header: map[string]string{"ETag": `"different"`}},
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
			replica: &object{size: 99},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"size 99, source 100"},
		},
		{
			name:    "ETag differs from the recorded one",
			replica: &object{size: 100, header: map[string]string{"ETag": `"rewritten"`}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"ETag rewritten, was " + strings.Trim(fakeETag, `"`) + " when copied"},
		},
		{
			name:    "checksum differs",
			replica: &object{size: 100, header: map[string]string{"x-amz-checksum-sha256": otherSHA, "x-amz-checksum-type": "FULL_OBJECT"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"SHA256 differs", "replica " + otherSHA},
		},
		{
			name:    "everything differs",
			replica: &object{size: 7, header: map[string]string{"ETag": `"e2"`, "x-amz-checksum-sha256": otherSHA}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyMismatch, says: []string{"size 7, source 100", "ETag e2", "SHA256 differs"},
		},
		{
			// A composite checksum depends on the part layout.
			name:    "composite checksum differs",
			replica: &object{size: 100, header: map[string]string{"x-amz-checksum-sha256": otherSHA + "-2", "x-amz-checksum-type": "COMPOSITE"}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK, says: []string{"size checked"},
		},
		{
			name:    "checksum of another algorithm",
			replica: &object{size: 100, header: map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}},
			rec:     planner.Replica{VersionID: "dv1", ETag: fakeETag},
			status:  planner.VerifyOK,
		},
		{
			name:    "replica key gone from the key file",
			replica: &object{size: 100},
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
				h.fake.putObject(dstBucket, "r", *tc.replica)
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
				if rs := h.fake.requests(); len(rs) != 0 {
					t.Errorf("requests %v, want none", describe(rs))
				}
				return
			}
			head := only(t, h.fake, "HeadObject")
			if head.Client != "dst" || head.Bucket != dstBucket || head.Key != "r" || head.Query.Get("versionId") != tc.rec.VersionID {
				t.Errorf("HEAD %v by %s, want dst /dst/r?versionId=%s", describe([]request{head}), head.Client, tc.rec.VersionID)
			}
			if got := head.Header.Get("x-amz-checksum-mode"); got != "ENABLED" {
				t.Errorf("HEAD x-amz-checksum-mode = %q, want ENABLED", got)
			}
			if rs := h.fake.ops("GetObject"); len(rs) != 0 {
				t.Errorf("content not asked for, yet read: %v", describe(rs))
			}
		})
	}
}

func TestVerifyReadErrors(t *testing.T) {
	h := newHarness(t)
	h.fake.setHook(func(r request) *reply {
		if r.Op == "HeadObject" {
			return &reply{status: http.StatusForbidden}
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
	if rs := h.fake.requests(); len(rs) != 0 {
		t.Errorf("requests %v, want none", describe(rs))
	}
}

// TestVerifyContent reads both sides of an SSE-C version re-keyed from A
// to B, each with its own key, and compares their SHA-256.
func TestVerifyContent(t *testing.T) {
	const size = 300
	for _, tc := range []struct {
		name       string
		replicaGet *reply // nil: the fake's default body, equal to the source's
		status     string
		says       string
	}{
		{name: "equal", status: planner.VerifyOK, says: "SHA-256 of the content equal"},
		{name: "different", replicaGet: &reply{status: http.StatusOK,
			header: hdr("Content-Length", strconv.Itoa(size)), body: strings.Repeat("y", size)},
			status: planner.VerifyMismatch, says: "content differs"},
		{name: "different length", replicaGet: &reply{status: http.StatusOK,
			header: hdr("Content-Length", strconv.Itoa(size-1)), body: strings.Repeat("x", size-1)},
			status: planner.VerifyMismatch, says: "content differs"},
		{name: "replica unreadable", replicaGet: s3Error(http.StatusForbidden, "AccessDenied"),
			status: planner.VerifyMismatch, says: "cannot read for content check: AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.putObject(srcBucket, "k", object{size: size, header: map[string]string{
				ssecPrefix + "algorithm": "AES256", ssecPrefix + "key-MD5": keyA.md5b64}})
			h.fake.putObject(dstBucket, "r", object{size: size, header: map[string]string{
				ssecPrefix + "algorithm": "AES256", ssecPrefix + "key-MD5": keyB.md5b64}})
			if tc.replicaGet != nil {
				h.fake.setHook(func(r request) *reply {
					if r.Op == "GetObject" && r.Bucket == dstBucket {
						return tc.replicaGet
					}
					return nil
				})
			}
			task := planner.Task{Version: planner.Version{Key: "k", VersionID: "v1", Size: size}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{DestKey: "r", Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: 1, Dest: dstBucket}
			status, msg, err := h.executor(t).Verify(context.Background(), task, planner.Replica{VersionID: "dv9", ETag: fakeETag}, true)
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

			head := only(t, h.fake, "HeadObject")
			wantSSEC(t, head, ssecPrefix, keyB)
			var srcGet, dstGet []request
			for _, r := range h.fake.ops("GetObject") {
				if r.Bucket == srcBucket {
					srcGet = append(srcGet, r)
				} else {
					dstGet = append(dstGet, r)
				}
			}
			if len(srcGet) != 1 || len(dstGet) != 1 {
				t.Fatalf("GETs %v, want one of each side", describe(h.fake.ops("GetObject")))
			}
			if g := srcGet[0]; g.Client != "src" || g.Key != "k" || g.Query.Get("versionId") != "v1" {
				t.Errorf("source GET %v by %s, want src /src/k?versionId=v1", describe(srcGet), g.Client)
			}
			wantSSEC(t, srcGet[0], ssecPrefix, keyA)
			if g := dstGet[0]; g.Client != "dst" || g.Key != "r" || g.Query.Get("versionId") != "dv9" {
				t.Errorf("replica GET %v by %s, want dst /dst/r?versionId=dv9", describe(dstGet), g.Client)
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
	h.fake.putObject(srcBucket, "k", object{size: 100})
	h.fake.putObject(dstBucket, "r", object{size: 50})
	status, msg, err := h.executor(t).Verify(context.Background(), verifyTask(), planner.Replica{VersionID: "dv1"}, true)
	if err != nil || status != planner.VerifyMismatch || !strings.Contains(msg, "size 50") {
		t.Errorf("Verify = %s %q %v, want a size mismatch", status, msg, err)
	}
	if rs := h.fake.ops("GetObject"); len(rs) != 0 {
		t.Errorf("GETs %v, want none", describe(rs))
	}
}
