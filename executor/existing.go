package executor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// A job that has no record of a key's replicas — a new job, or one whose
// checkpoint was lost — may find them on the destination already: a job
// run to the end, its database deleted, and the same command run again
// would otherwise copy every version a second time. Before copying such a
// key, the destination key's history is aligned with the source's: where
// it is the source's history so far, its versions are adopted as the
// replicas and only the rest is copied. The destination is listed once per
// batch of keys, page by page alongside the work, not once per version.

// needsAlignment: the job knows no replica of the key and never claimed
// any of its tasks.
func needsAlignment(j planner.KeyWork) bool {
	if len(j.Replicas) > 0 || len(j.Tasks) == 0 {
		return false
	}
	for _, t := range j.Tasks {
		if !t.ClaimedAt.IsZero() || t.InDoubt() {
			return false
		}
	}
	return true
}

// existingVersions lists, for the keys of a batch that need alignment,
// the versions their replica keys already have, oldest first; a key with
// none has an empty (not nil) slice. Keys not looked at are absent. A
// destination that cannot be listed is not aligned (the keys are copied as
// usual); only an error fatal for the run is returned.
func (e *Executor) existingVersions(ctx context.Context, jobs []planner.KeyWork) (map[int][]destVersion, error) {
	out := map[int][]destVersion{}
	if !e.cfg.AdoptExisting {
		return out, nil
	}
	for start := 0; start < len(jobs); {
		// One listing per destination bucket in the batch (jobs come in
		// destination, then key, order).
		end := start
		var idx []int
		for end < len(jobs) && jobs[end].Dest == jobs[start].Dest {
			if needsAlignment(jobs[end]) {
				idx = append(idx, end)
			}
			end++
		}
		if len(idx) > 0 {
			if err := e.listExisting(ctx, jobs, idx, out); err != nil {
				return nil, err
			}
		}
		start = end
	}
	return out, nil
}

// listExisting lists the destination from just before the first key of
// idx to past the last, under their common prefix.
func (e *Executor) listExisting(ctx context.Context, jobs []planner.KeyWork, idx []int, out map[int][]destVersion) error {
	bucket := jobs[idx[0]].Dest
	keys := make([]string, len(idx))
	for i, n := range idx {
		keys[i] = jobs[n].DestKey
	}
	want := map[string]int{}
	for i, k := range keys {
		want[k] = idx[i]
	}
	first, last := slices.Min(keys), slices.Max(keys)
	found := map[string][]destVersion{}
	// A proper prefix of the first key sorts before it: the listing starts
	// at most a few keys early.
	p := inventory.NewPager(e.dst, bucket, commonPrefix(keys), first[:len(first)-1])
	done := false
	for !done && p.More() {
		page, err := p.Next(ctx)
		if err != nil {
			code, _, class := s3err.Classify(err)
			if class == s3err.Fatal {
				return err
			}
			e.log.Warn("cannot list the destination to find replicas made before this job; copying those keys as usual",
				"bucket", bucket, "from", first, "code", code)
			return nil
		}
		for _, v := range page {
			if v.Key > last {
				done = true
				break
			}
			if _, ok := want[v.Key]; ok {
				found[v.Key] = append(found[v.Key], destVersion{id: v.VersionID, deleteMarker: v.DeleteMarker,
					size: v.Size, etag: v.ETag, lastModified: v.LastModified})
			}
		}
	}
	for k, n := range want {
		vs := found[k]
		slices.Reverse(vs) // listed newest first
		out[n] = append([]destVersion{}, vs...)
	}
	return nil
}

// commonPrefix is the longest prefix of every key.
func commonPrefix(keys []string) string {
	p := keys[0]
	for _, k := range keys[1:] {
		for !strings.HasPrefix(k, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// align adopts the versions already on the destination, oldest first, as
// the replicas of the first tasks when the destination's history is the
// source's so far; it returns the tasks left to copy and, when the
// destination key holds a history that is not, a note for their outcomes.
func (e *Executor) align(ctx context.Context, store Store, tasks []planner.Task, existing []destVersion) ([]planner.Task, string, error) {
	if len(existing) == 0 {
		return tasks, "", nil
	}
	matches := len(existing) <= len(tasks)
	for i := 0; matches && i < len(existing); i++ {
		matches = replicaOf(tasks[i], existing[i], time.Time{})
	}
	other := fmt.Sprintf("the destination key already held %d version(s) that are not this job's replicas", len(existing))
	if !matches {
		return tasks, other, nil
	}
	left, adopted, err := e.adopt(ctx, store, tasks, existing, "before this job (adopted: already on the destination)",
		func(planner.Task) (bool, time.Time) { return true, time.Time{} })
	if err != nil || adopted == len(existing) {
		return left, "", err
	}
	return left, other, nil
}
