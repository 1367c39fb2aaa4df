package executor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/s3fake"
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
		return planner.Task{Version: planner.Version{VersionID: vid, Size: size, ETag: `"e"`}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: id, Status: planner.StatusCopying, ClaimedAt: claimed}
	}
	for _, tc := range []struct {
		name    string
		tasks   []planner.Task
		listing []destSeed
		adopted map[int64]string // task id → adopted replica version
		copied  []int64          // task ids copied again, in order
	}{
		{
			name:  "adopt matching replica",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []destSeed{
				{key: "r", vid: "dv-new", size: 100, modified: after},
				{key: "r", vid: "dv-known", size: 5, modified: old},
			},
			adopted: map[int64]string{1: "dv-new"},
		},
		{
			name:  "size mismatch copies",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []destSeed{
				{key: "r", vid: "dv-new", size: 99, modified: after},
				{key: "r", vid: "dv-known", size: 5, modified: old},
			},
			copied: []int64{1},
		},
		{
			name:  "replica older than the claim copies",
			tasks: []planner.Task{task(1, "v1", 100)},
			listing: []destSeed{
				{key: "r", vid: "dv-before", size: 100, modified: before},
				{key: "r", vid: "dv-known", size: 5, modified: old},
			},
			copied: []int64{1},
		},
		{
			name:  "known replica is never adopted",
			tasks: []planner.Task{task(1, "v1", 5)},
			listing: []destSeed{
				{key: "r", vid: "dv-known", size: 5, modified: after},
			},
			copied: []int64{1},
		},
		{
			name:  "first adopted, second copied",
			tasks: []planner.Task{task(1, "v1", 100), task(2, "v2", 200)},
			// The listing by prefix goes on to other keys: their
			// versions must not be taken for this key's.
			listing: []destSeed{
				{key: "r", vid: "dv-new", size: 100, modified: after},
				{key: "r/other", vid: "dv-other", size: 200, modified: after},
			},
			adopted: map[int64]string{1: "dv-new"},
			copied:  []int64{2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			seedDest(t, h, tc.listing...)
			for _, task := range tc.tasks {
				h.source("r", task.VersionID, task.Size, keyA.Header())
			}
			h.run(t, planner.KeyWork{Key: "r", Tasks: tc.tasks, Replicas: []string{"dv-known"}})

			list := h.fake.Only(t, "ListObjectVersions")
			if list.Client != dstClient || list.Bucket != dstBucket || list.Query.Get("prefix") != "r" {
				t.Errorf("listing %v by %s, want dst with prefix r", s3fake.Describe([]s3fake.Request{list}), list.Client)
			}
			for id, vid := range tc.adopted {
				o := h.store.outcome(t, id)
				if o.Status != planner.StatusSucceeded || o.Replica.VersionID != vid {
					t.Errorf("task %d outcome = %+v, want succeeded with %s", id, o, vid)
				}
				// Adoption reads the replica back, with its key.
				var read bool
				for _, r := range h.fake.Ops("HeadObject") {
					if r.Query.Get("versionId") == vid {
						read = true
						wantSSEC(t, r, ssecPrefix, keyB)
					}
				}
				if !read {
					t.Errorf("adopted %s not read back: %v", vid, s3fake.Describe(h.fake.Requests()))
				}
			}
			copies := h.fake.Ops("CopyObject")
			if len(copies) != len(tc.copied) {
				t.Fatalf("%d CopyObject, want %d: %v", len(copies), len(tc.copied), s3fake.Describe(h.fake.Requests()))
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
	seedDest(t, h,
		destSeed{key: "d", vid: "dm-new", dm: true, modified: "2026-03-01T10:00:01.000Z"},
		destSeed{key: "d", vid: "dv-known", size: 3, modified: "2026-02-01T00:00:00.000Z"})
	h.run(t, planner.KeyWork{Key: "d", Replicas: []string{"dv-known"}, Tasks: []planner.Task{{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, ID: 1, Status: planner.StatusCopying, ClaimedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || o.Replica.VersionID != "dm-new" {
		t.Errorf("outcome = %+v, want succeeded dm-new", o)
	}
	if rs := h.fake.Ops("DeleteObject"); len(rs) != 0 {
		t.Errorf("delete marker replayed twice: %v", s3fake.Describe(rs))
	}
}

// destSeed is one version of a replica key an interrupted run may have
// made, as the destination lists it.
type destSeed struct {
	key, vid string
	size     int64
	modified string // as listed
	dm       bool   // a delete marker
}

// seedDest stores versions given newest first, as S3 lists them: SSE-C
// replicas under key B.
func seedDest(t *testing.T, h *harness, vs ...destSeed) {
	t.Helper()
	for _, v := range slices.Backward(vs) {
		modified, err := time.Parse(time.RFC3339, v.modified)
		if err != nil {
			t.Fatal(err)
		}
		h.fake.Put(dstBucket, v.key, s3fake.Object{VersionID: v.vid, Size: v.size, DeleteMarker: v.dm,
			LastModified: modified, Header: keyB.Header()})
	}
}
