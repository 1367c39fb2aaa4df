package executor

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// TestReconcileInDoubt checks what a run does with tasks an interrupted
// run claimed: a replica version listed after the claim, of the right
// size, is adopted without a copy; anything else is copied again.
func TestReconcileInDoubt(t *testing.T) {
	claimed := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const (
		after  = "2026-03-01T10:00:05.000Z"
		before = "2026-03-01T09:00:00.000Z" // older than the claim by more than the clock skew
		old    = "2026-02-01T00:00:00.000Z"
	)
	task := func(id int64, vid string, size int64) planner.Task {
		return planner.Task{Version: planner.Version{VersionID: vid, Size: size, ETag: `"e"`}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.id}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.id}, ID: id, Status: planner.StatusCopying, ClaimedAt: claimed}
	}
	for _, tc := range []struct {
		name    string
		tasks   []planner.Task
		listing []listed
		adopted map[int64]string // task id → adopted replica version
		copied  []int64          // task ids copied again, in order
	}{
		{
			name:  "adopt matching replica",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []listed{
				{key: "r", versionID: "dv-new", size: 100, etag: `"x"`, lastModified: after, latest: true},
				{key: "r", versionID: "dv-known", size: 5, etag: `"y"`, lastModified: old},
			},
			adopted: map[int64]string{1: "dv-new"},
		},
		{
			name:  "size mismatch copies",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []listed{
				{key: "r", versionID: "dv-new", size: 99, etag: `"x"`, lastModified: after, latest: true},
				{key: "r", versionID: "dv-known", size: 5, etag: `"y"`, lastModified: old},
			},
			copied: []int64{1},
		},
		{
			name:  "replica older than the claim copies",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []listed{
				{key: "r", versionID: "dv-before", size: 100, etag: `"x"`, lastModified: before, latest: true},
				{key: "r", versionID: "dv-known", size: 5, etag: `"y"`, lastModified: old},
			},
			copied: []int64{1},
		},
		{
			name:  "known replica is never adopted",
			tasks: []planner.Task{task(1, "v1", 5)},
			listing: []listed{
				{key: "r", versionID: "dv-known", size: 5, etag: `"y"`, lastModified: after, latest: true},
			},
			copied: []int64{1},
		},
		{
			name:  "first adopted, second copied",
			tasks: []planner.Task{task(1, "v1", 100), task(2, "v2", 200)},
			// The listing by prefix goes on to other keys: their
			// versions must not be taken for this key's.
			listing: []listed{
				{key: "r", versionID: "dv-new", size: 100, etag: `"x"`, lastModified: after, latest: true},
				{key: "r/other", versionID: "dv-other", size: 200, etag: `"z"`, lastModified: after, latest: true},
			},
			adopted: map[int64]string{1: "dv-new"},
			copied:  []int64{2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.setVersions(dstBucket, tc.listing...)
			h.fake.putObject(dstBucket, "r", ssecReplicaHead(tc.tasks[0].Size, keyB))
			if len(tc.tasks) > 1 {
				// Read-back of the second copy answers its size.
				h.fake.setHook(func(r request) *reply {
					if r.Op == "HeadObject" && r.Query.Get("versionId") != "dv-new" {
						return &reply{status: http.StatusOK, header: hdr("Content-Length", "200",
							ssecPrefix+"algorithm", "AES256", ssecPrefix+"key-MD5", keyB.md5b64)}
					}
					return nil
				})
			}
			h.run(t, planner.KeyWork{Key: "r", Tasks: tc.tasks, Replicas: []string{"dv-known"}})

			list := only(t, h.fake, "ListObjectVersions")
			if list.Client != "dst" || list.Bucket != dstBucket || list.Query.Get("prefix") != "r" {
				t.Errorf("listing %v by %s, want dst with prefix r", describe([]request{list}), list.Client)
			}
			for id, vid := range tc.adopted {
				o := h.store.outcome(t, id)
				if o.Status != planner.StatusSucceeded || o.Replica.VersionID != vid {
					t.Errorf("task %d outcome = %+v, want succeeded with %s", id, o, vid)
				}
				// Adoption reads the replica back, with its key.
				var read bool
				for _, r := range h.fake.ops("HeadObject") {
					if r.Query.Get("versionId") == vid {
						read = true
						wantSSEC(t, r, ssecPrefix, keyB)
					}
				}
				if !read {
					t.Errorf("adopted %s not read back: %v", vid, describe(h.fake.requests()))
				}
			}
			copies := h.fake.ops("CopyObject")
			if len(copies) != len(tc.copied) {
				t.Fatalf("%d CopyObject, want %d: %v", len(copies), len(tc.copied), describe(h.fake.requests()))
			}
			for i, id := range tc.copied {
				vid := tc.tasks[id-1].VersionID
				if src := copies[i].Header.Get("x-amz-copy-source"); !strings.HasSuffix(src, "?versionId="+vid) {
					t.Errorf("copy %d source %q, want version %s", i, src, vid)
				}
				wantSSEC(t, copies[i], copySSECPrefx, keyA)
				wantSSEC(t, copies[i], ssecPrefix, keyB)
				o := h.store.outcome(t, id)
				if o.Status != planner.StatusSucceeded || o.Replica.VersionID != copies[i].Reply.Get("x-amz-version-id") {
					t.Errorf("task %d outcome = %+v, want succeeded with %s", id, o, copies[i].Reply.Get("x-amz-version-id"))
				}
			}
		})
	}
}

// TestReconcileDeleteMarker checks that a replayed delete marker found
// after the claim is adopted without a second DELETE.
func TestReconcileDeleteMarker(t *testing.T) {
	h := newHarness(t)
	h.fake.setVersions(dstBucket,
		listed{key: "d", versionID: "dm-new", deleteMarker: true, latest: true, lastModified: "2026-03-01T10:00:01.000Z"},
		listed{key: "d", versionID: "dv-known", size: 3, etag: `"y"`, lastModified: "2026-02-01T00:00:00.000Z"})
	h.run(t, planner.KeyWork{Key: "d", Replicas: []string{"dv-known"}, Tasks: []planner.Task{{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 1, Status: planner.StatusCopying, ClaimedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || o.Replica.VersionID != "dm-new" {
		t.Errorf("outcome = %+v, want succeeded dm-new", o)
	}
	if rs := h.fake.ops("DeleteObject"); len(rs) != 0 {
		t.Errorf("delete marker replayed twice: %v", describe(rs))
	}
}
