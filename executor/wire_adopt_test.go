package executor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// newJobTasks are the never-claimed copy tasks of key's source versions
// v1..vn (sizes 100, 101, ...), as a job with no record of them plans them.
func newJobTasks(h *harness, key string, n int, idBase int64) []planner.Task {
	var tasks []planner.Task
	for i := range n {
		vid := fmt.Sprintf("v%d", i+1)
		h.source(key, vid, int64(100+i), nil)
		tasks = append(tasks, planner.Task{ID: idBase + int64(i), Version: planner.Version{VersionID: vid, Size: int64(100 + i),
			ETag: h.fake.Versions(srcBucket, key)[0].ETag}, Inspection: planner.Inspection{Encryption: planner.NotSSE},
			Decision: planner.Decision{Action: planner.Copy}})
	}
	return tasks
}

// TestAdoptExistingReplicas: a job with no record of a key whose
// destination already holds the source's history so far (a lost
// checkpoint) adopts those versions as the replicas and copies only the
// rest; one listing of the destination serves the whole batch of keys.
func TestAdoptExistingReplicas(t *testing.T) {
	h := newHarness(t)
	h.cfg.AdoptExisting = true
	h.cfg.Workers = 10 // a batch is twice the keys copied at once: all 20
	var jobs []planner.KeyWork
	for k := range 20 {
		key := fmt.Sprintf("k%02d", k)
		tasks := newJobTasks(h, key, 3, int64(10*k+1))
		// The lost job had copied the first two versions of every key.
		for i := 0; i < 2; i++ {
			h.fake.Put(dstBucket, key, s3fake.Object{Data: s3fake.Fill(int64(100 + i))})
		}
		jobs = append(jobs, planner.KeyWork{Key: key, Tasks: tasks})
	}
	h.run(t, jobs...)
	for k := range 20 {
		key := fmt.Sprintf("k%02d", k)
		for i := range 3 {
			o := h.store.outcome(t, int64(10*k+1+i))
			adopted := strings.Contains(o.Message, "adopted: already on the destination")
			if o.Status != planner.StatusSucceeded || adopted != (i < 2) {
				t.Errorf("%s v%d: %+v, want succeeded, adopted: %v", key, i+1, o, i < 2)
			}
		}
		if vs := h.fake.Versions(dstBucket, key); len(vs) != 3 {
			t.Errorf("%s: %d replica versions, want 3", key, len(vs))
		}
	}
	if n := len(h.fake.Ops("CopyObject")); n != 20 {
		t.Errorf("%d CopyObject, want 20 (the third version of each key)", n)
	}
	if n := len(h.fake.Ops("ListObjectVersions")); n != 1 {
		t.Errorf("%d listings of the destination, want 1 for the batch: %v", n, s3fake.Describe(h.fake.Ops("ListObjectVersions")))
	}
}

// TestAdoptExistingOtherHistory: a destination key that holds a history
// other than the source's is not adopted: every version is copied, and the
// outcomes say the key held other versions.
func TestAdoptExistingOtherHistory(t *testing.T) {
	h := newHarness(t)
	h.cfg.AdoptExisting = true
	tasks := newJobTasks(h, "k", 2, 1)
	h.fake.Put(dstBucket, "k", s3fake.Object{Size: 7}) // not the source's first version
	h.run(t, planner.KeyWork{Key: "k", Tasks: tasks})
	for id := int64(1); id <= 2; id++ {
		if o := h.store.outcome(t, id); o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, "already held 1 version(s) that are not this job's replicas") {
			t.Errorf("task %d: %+v, want copied, with a note on the other version", id, o)
		}
	}
	if n := len(h.fake.Ops("CopyObject")); n != 2 {
		t.Errorf("%d CopyObject, want 2", n)
	}
}

// TestAdoptExistingOff: with AdoptExisting off (and for keys the job has a
// record of) the destination is not listed.
func TestAdoptExistingOff(t *testing.T) {
	h := newHarness(t)
	tasks := newJobTasks(h, "k", 2, 1)
	h.fake.Put(dstBucket, "k", s3fake.Object{Data: s3fake.Fill(100)})
	h.run(t, planner.KeyWork{Key: "k", Tasks: tasks})
	if n, c := len(h.fake.Ops("ListObjectVersions")), len(h.fake.Ops("CopyObject")); n != 0 || c != 2 {
		t.Errorf("%d listings, %d copies; want 0 and 2", n, c)
	}
	h2 := newHarness(t)
	h2.cfg.AdoptExisting = true
	tasks = newJobTasks(h2, "k", 2, 1)
	h2.run(t, planner.KeyWork{Key: "k", Tasks: tasks[1:], Replicas: []string{"known-replica"}})
	if n := len(h2.fake.Ops("ListObjectVersions")); n != 0 {
		t.Errorf("%d listings for a key the job has replicas of, want 0", n)
	}
}
