package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// clockSkew is how far the server's clock may be behind ours and a replica
// still count as made after its claim: SigV4 refuses requests whose clocks
// differ by more than 15 minutes.
const clockSkew = 15 * time.Minute

// destVersion is one version of the replica key, as listed.
type destVersion struct {
	id           string
	deleteMarker bool
	size         int64
	etag         string
	lastModified time.Time
}

// reconcile settles the tasks of a key that an earlier run claimed and
// stopped before recording: their copies may have happened. The versions of
// the replica key that this job does not know, made after the claim, are
// matched oldest first against the in-doubt tasks, oldest first; each match
// (same kind and size, same ETag where both are MD5s) is recorded as
// succeeded without copying again. It returns the tasks still to copy and
// the ids of every version the replica key has now.
func (e *Executor) reconcile(ctx context.Context, store Store, j planner.KeyWork) ([]planner.Task, []string, error) {
	dests, err := e.listDestVersions(ctx, j.Dest, j.DestKey)
	if err != nil {
		code, _, class := s3err.Classify(err)
		if class == s3err.Fatal {
			return nil, nil, err
		}
		// Without the listing nothing can be adopted; copying again
		// risks a duplicate replica version, which is better than a
		// missing one. Say so.
		e.log.Warn("cannot list the replica key to check copies in doubt; copying them again",
			"key", j.DestKey, "code", code)
		return notInDoubt(j.Tasks), nil, nil
	}
	listed := make([]string, len(dests))
	for i, d := range dests {
		listed[i] = d.id
	}
	// Newest first: keep the versions above the newest one the job knows.
	known := make(map[string]bool, len(j.Replicas))
	for _, id := range j.Replicas {
		known[id] = true
	}
	var fresh []destVersion
	for _, d := range dests {
		if known[d.id] {
			break
		}
		fresh = append(fresh, d)
	}
	slices.Reverse(fresh)

	tasks, _, err := e.adopt(ctx, store, j.Tasks, fresh, "by an interrupted run",
		func(t planner.Task) (bool, time.Time) { return t.InDoubt(), t.ClaimedAt })
	if err != nil {
		return nil, nil, err
	}
	return notInDoubt(tasks), listed, nil
}

// adopt is the one test of "this version of the replica key is that task's
// replica", for the copies an interrupted run may have made, and for the
// replicas already on the destination when a job starts without a record
// of them. It walks tasks and fresh (versions of the replica key the job
// does not know) together, oldest first: each task eligible (with the time
// its replica cannot be older than) whose replica the version is — the
// same kind, time and size, the same ETag where comparable (replicaOf),
// and, read back as after a copy, the same size and checksum — is recorded
// as succeeded without a copy. It stops at the first that is not, and
// returns the tasks left to copy and how many it adopted.
func (e *Executor) adopt(ctx context.Context, store Store, tasks []planner.Task, fresh []destVersion, how string,
	eligible func(planner.Task) (bool, time.Time)) ([]planner.Task, int, error) {
	adopted := 0
	for len(tasks) > 0 && len(fresh) > 0 {
		t, d := tasks[0], fresh[0]
		ok, since := eligible(t)
		if !ok || !replicaOf(t, d, since) {
			break
		}
		o := planner.Outcome{TaskID: t.ID, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: d.id},
			Message: "delete marker replayed " + how}
		if !t.DeleteMarker {
			tt, k, err := t, sse.Keys{}, error(nil)
			if keyOnCopy(t) {
				// The copy found the key; which one, the replica tells.
				tt, k, err = e.keysOfReplica(ctx, t, d.id)
			} else {
				k, err = e.resolveKeys(t)
			}
			if err != nil {
				if _, _, class := s3err.Classify(err); class == s3err.Fatal {
					return nil, adopted, err
				}
				break // the copy is redone and fails with the key error
			}
			if o, err = e.finish(ctx, tt, k, copyResult{versionID: d.id, etag: d.etag, method: how}); err != nil {
				return nil, adopted, err
			}
			if o.Status != planner.StatusSucceeded {
				break // read back, it is not the replica: copy
			}
			o.SSECKeyID, o.ReplicaSSECKeyID = tt.SSECKeyID, tt.ReplicaSSECKeyID
			o.Message = strings.Replace(o.Message, "copied by "+how, "copied "+how, 1)
		}
		if t.HasUpload {
			// Its replica is made: nothing left to continue.
			if err := e.dropUpload(ctx, store, t); err != nil {
				return nil, adopted, err
			}
		}
		if err := e.record(store, o, t.Size); err != nil {
			return nil, adopted, err
		}
		e.log.Debug("adopted a replica on the destination", "key", t.Key, "version", t.VersionID, "replica", d.id, "how", how)
		tasks, fresh = tasks[1:], fresh[1:]
		adopted++
	}
	return tasks, adopted, nil
}

// replicaOf reports whether destination version d is the replica of task
// t: the same kind, made since (when not zero; less the clock skew
// allowed), the same size, and the same ETag where both are MD5s of the
// same bytes.
func replicaOf(t planner.Task, d destVersion, since time.Time) bool {
	if d.deleteMarker != t.DeleteMarker {
		return false
	}
	if !since.IsZero() && d.lastModified.Before(since.Add(-clockSkew)) {
		return false
	}
	if t.DeleteMarker {
		return true
	}
	if d.size != t.Size {
		return false
	}
	// Where both ETags are MD5s of the same bytes they must be equal.
	if t.Action == planner.Copy && etagIsPlainMD5(t.ETag) && etagIsPlainMD5(d.etag) &&
		(t.Encryption == planner.NotSSE || t.Encryption == planner.SSES3) &&
		(t.ReplicaEncryption == "" || t.ReplicaEncryption == planner.SSES3) {
		return strings.Trim(t.ETag, `"`) == strings.Trim(d.etag, `"`)
	}
	return true
}

func etagIsPlainMD5(etag string) bool {
	etag = strings.Trim(etag, `"`)
	return len(etag) == 32 && !strings.Contains(etag, "-")
}

// notInDoubt marks tasks as settled for this run: what reconciliation did
// not adopt is copied.
func notInDoubt(ts []planner.Task) []planner.Task {
	out := slices.Clone(ts)
	for i := range out {
		if out[i].InDoubt() {
			out[i].Status = planner.StatusPending
		}
	}
	return out
}

// errOtherKey ends a listing at the first key after the one wanted.
var errOtherKey = errors.New("listing reached another key")

// listDestVersions lists the versions and delete markers of exactly key in
// the destination, newest first.
func (e *Executor) listDestVersions(ctx context.Context, bucket, key string) ([]destVersion, error) {
	var out []destVersion
	// The exact key sorts before every longer key with it as prefix, so
	// its versions come first.
	err := inventory.List(ctx, e.dst, bucket, key, func(v planner.Version) error {
		if v.Key != key {
			return errOtherKey
		}
		out = append(out, destVersion{id: v.VersionID, deleteMarker: v.DeleteMarker, size: v.Size,
			etag: v.ETag, lastModified: v.LastModified})
		return nil
	})
	if err != nil && !errors.Is(err, errOtherKey) {
		return nil, fmt.Errorf("list replica versions of %s: %w", key, err)
	}
	return out, nil
}
