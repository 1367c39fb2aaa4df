package job

import (
	"context"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// Store is what a job needs of its checkpoint: the single source of truth
// about the job. checkpoint.DB (SQLite or PostgreSQL) implements it; the conformance
// suite in storetest holds every implementation to the same promises.
//
// Durability: unless a method says otherwise, what it wrote is durable when
// it returns nil (a crash after that loses nothing of it). Concurrency:
// every method may be called from several goroutines at once, except the
// scan (one RecordScan at a time). Errors: a Store does not retry; any
// error it returns stops the run, and the checkpoint stays consistent so
// that the next run resumes.
type Store interface {
	// Settings returns the job's stored spec (JSON); ok is false for a
	// new checkpoint.
	Settings(ctx context.Context) (spec []byte, ok bool, err error)
	// SaveSettings stores the job's spec, replacing the last.
	SaveSettings(ctx context.Context, spec []byte) error

	// RecordScan records one listing of the source: list calls add for
	// every version and delete marker in listing order (by key, newest
	// first within a key), and each is recorded as a task for each
	// destination bucket. Tasks already recorded keep their plan and
	// outcome (a "null" version that was replaced starts over). The
	// versions of one key are durable together; when list fails, the keys
	// it finished are kept (the last key, maybe listed only in part, is
	// left to the next scan, which adds it whole) and its error returned.
	RecordScan(ctx context.Context, dests []string, list func(add func(planner.Version) error) error) (planner.ScanStats, error)
	// RecordShardedScan is RecordScan made of shards, which list lists
	// (calling add in listing order). A store one process holds lists the
	// whole source at once: one list of Shard{All: true}. A store many
	// processes share makes a pass's listing once between them: one of
	// them calls split, which names the shards; each shard is listed by
	// one process, and a shard whose process is gone is listed again by
	// another after the last key recorded of it (Shard.After). It returns
	// when every shard is listed, with the pass's counts (By names another
	// process when this one listed none). A process's second call lists
	// the whole source again.
	RecordShardedScan(ctx context.Context, dests []string, split func(context.Context) ([]planner.Shard, error),
		list func(ctx context.Context, sh planner.Shard, add func(planner.Version) error) error) (planner.ScanStats, error)

	// ManifestLoaded reports whether a scan loaded the manifest at
	// location, with this ETag, whole (SaveManifest).
	ManifestLoaded(ctx context.Context, location, etag string) (bool, error)
	// SaveManifest records that a scan loaded a manifest whole.
	SaveManifest(ctx context.Context, location, etag string, versions int64) error

	// KeyLearning is what the job learned of which SSE-C keys open
	// versions in which folders (SaveKeyLearning's sums).
	KeyLearning(ctx context.Context) ([]planner.FolderKey, error)
	// SaveKeyLearning adds versions opened by keys in folders, all or none.
	SaveKeyLearning(ctx context.Context, learned []planner.FolderKey) error

	// CountToPlan is the number of rows PlanPage will return in all.
	CountToPlan(ctx context.Context) (int64, error)
	// PlanPage returns up to limit rows with an id above afterID, by id,
	// that are pending, failed or skipped; the rows of one version (one
	// per destination) are next to each other, except the rows of a
	// destination added to an existing job, which come later (the version
	// is then inspected once more). NewerReplicated is filled.
	PlanPage(ctx context.Context, afterID int64, limit int) ([]planner.Row, error)
	// ClaimPlan returns the next rows to plan. A store one process holds
	// returns PlanPage(afterID, limit). A store many processes share hands
	// each row to one of them per pass, whatever afterID; when the rows
	// left are being planned by others it waits until their plans are
	// saved (or their process is gone and they are handed out again), and
	// it returns none only when every row of the pass is planned.
	ClaimPlan(ctx context.Context, afterID int64, limit int) ([]planner.Row, error)
	// SavePlans records plans, all or none. A task claimed by a copy run,
	// or already copied, keeps its plan.
	SavePlans(ctx context.Context, plans []planner.Plan) error

	// CountWork is the number and bytes of tasks with a copy to do.
	CountWork(ctx context.Context) (tasks, bytes int64, err error)
	// NextWork returns up to limit (destination, key) pairs after the
	// cursor, in that order, that have tasks to copy, each with all its
	// tasks oldest first and the replicas of its succeeded versions. It
	// only reads; ClaimKeys (of a store one process holds) is NextWork.
	NextWork(ctx context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error)
	executor.Store // ClaimKeys, Claim, Record, and the uploads of multipart copies
	// Flush makes every outcome given to Record durable. Record may batch:
	// a crash before Flush can lose the last outcomes, whose tasks then
	// stay claimed (in doubt) and are reconciled by the next run.
	Flush() error
	// Uploads lists every unfinished multipart upload the job recorded.
	Uploads(ctx context.Context) ([]planner.Upload, error)

	// EachRow calls fn for every row, by destination, key and oldest
	// version first; with a status, only the rows in it. It pages: no read
	// stays open long, and a page costs the same at any job size.
	EachRow(ctx context.Context, status planner.Status, fn func(planner.Row) error) error
	// Counts groups every task by destination, status, action and source
	// encryption.
	Counts(ctx context.Context) ([]planner.Count, error)
	// SaveVerifications records what verify found, all or none.
	SaveVerifications(ctx context.Context, vs []planner.Verification) error

	// BeginRun records the start of a run and returns its number.
	BeginRun(ctx context.Context, command string) (int64, error)
	// UpdateRun records a run's traffic so far; finished marks its end.
	UpdateRun(ctx context.Context, runNo int64, s planner.RunStats, finished bool) error
	// LastRun is the latest run, or nil.
	LastRun(ctx context.Context) (*planner.RunStats, error)
	// RequestsByOperation sums every run's requests by S3 operation.
	RequestsByOperation(ctx context.Context) (map[string]int64, error)
	// Workers lists the processes working the job of a shared store, the
	// live ones first; a store one process holds lists none.
	Workers(ctx context.Context) ([]planner.Worker, error)
}
