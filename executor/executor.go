package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// Store feeds work and takes outcomes. Claim must be durable before it
// returns: the executor sends no request for a task before its claim.
// Record may batch. The upload methods keep multipart uploads resumable:
// each must be durable when it returns. An error from the store stops the
// run. Every method may be called from many goroutines at once.
type Store interface {
	// ClaimKeys returns the next keys to copy after the cursor, up to
	// limit (a shared store may hand out fewer when keys have several
	// tasks), each with all its tasks oldest first and the replicas of its
	// succeeded versions; none when no work is left. A store many
	// processes share hands each key to one of them (and may ignore the
	// cursor, which is then its own).
	ClaimKeys(ctx context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error)
	Claim(ctx context.Context, ids []int64) error
	Record(planner.Outcome) error

	// LoadUpload returns the unfinished upload of a task (or its intent
	// to start one, with an empty UploadID), or nil.
	LoadUpload(ctx context.Context, taskID int64) (*planner.Upload, error)
	// SaveUpload records a task's upload, or with an empty UploadID the
	// intent to start one, replacing any other and its parts.
	SaveUpload(ctx context.Context, u planner.Upload) error
	SavePart(ctx context.Context, uploadID string, p planner.Part) error
	// DropUpload forgets a task's upload (completed or aborted) or intent.
	DropUpload(ctx context.Context, taskID int64) error
}

// Progress hears about finished tasks. Implementations must be safe for
// concurrent use.
type Progress interface {
	Done(objects int, bytes int64, failed bool)
}

// Config is the executor's settings.
type Config struct {
	SourceBucket string
	Workers      int   // keys copied in parallel
	PartSize     int64 // multipart copy part size
	PartWorkers  int   // parts of one object copied in parallel
	// Stream copies every object with GET + upload instead of a
	// server-side copy (source and destination on different endpoints or
	// credentials).
	Stream bool
	Keys   *planner.KeyRing
	// StopGrace is how long copies in flight may go on once the run is
	// told to stop; then their requests are cancelled.
	StopGrace time.Duration
	// StreamParts is how many parts streamed copies may hold in memory at
	// once (each up to PartSize); 0 means Workers × PartWorkers.
	StreamParts int
	// CutAtPartSize: multipart replicas are cut at PartSize, even where
	// the source has parts of its own to replay.
	CutAtPartSize bool
	// AdoptExisting: before copying a key the job has no record of, adopt
	// the replicas already on the destination (see existing.go).
	AdoptExisting bool
	// StreamFallback: a version the destination endpoint cannot copy
	// server-side (501 NotImplemented for its class of encrypted source)
	// is copied through this machine instead (--copy-mode auto).
	StreamFallback bool
	// ACL says what a replica's ACL is, by destination bucket: ACLCopy
	// (the source version's grants), ACLOwnerOverride (full control to the
	// destination bucket's owner), or "" (the bucket's default). nil: "".
	ACL func(dest string) string
	// ObjectLock names the destination buckets that have Object Lock: the
	// copies there carry their source's retention and legal hold.
	ObjectLock map[string]bool
	// Stop, if set, says when no new version may start (a time or version
	// budget is spent): the copies in flight finish, the keys claimed and
	// not started are released, and Run returns.
	Stop func() bool
	// Learned orders the SSE-C keys tried on a copy (see planner.KeyRing.Order)
	// and learns from the keys a copy finds; nil: the key file's order.
	Learned *planner.KeyLearning
	// KeyTrials counts the copies refused for a wrong SSE-C key (nil: not
	// counted).
	KeyTrials *atomic.Int64
	// WriteBackoff is the first wait before a write whose answer was lost
	// (and whose replica is not on the destination) is sent again; it
	// doubles. 0 means writeBackoff.
	WriteBackoff time.Duration
	// ReadBack says when a replica is read back after its copy (see
	// ReadBack); "" is ReadBackAuto.
	ReadBack ReadBack
}

// Executor copies.
type Executor struct {
	cfg          Config
	noServerCopy noServerCopy // source encryptions the endpoint does not copy server-side
	checksums    atomic.Bool  // the destination answers the checksums it is sent
	tagsOnCreate atomic.Int32 // what the destination does with tags on CreateMultipartUpload (tagsKept, tagsDropped)
	buffers      *partBuffers
	src          SourceAPI
	dst          DestAPI
	progress     Progress
	log          *slog.Logger
}

// New makes an executor. src serves reads of the source (HEAD, GET,
// tagging); dst receives every write, including server-side copies.
func New(cfg Config, src SourceAPI, dst DestAPI, progress Progress, log *slog.Logger) (*Executor, error) {
	if cfg.Workers < 1 || cfg.PartWorkers < 1 {
		return nil, fmt.Errorf("executor: workers must be at least 1")
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("executor: part size must be at least 5MiB")
	}
	rb, err := ParseReadBack(string(cfg.ReadBack))
	if err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	cfg.ReadBack = rb
	parts := cfg.StreamParts
	if parts <= 0 {
		parts = cfg.Workers * cfg.PartWorkers
	}
	return &Executor{cfg: cfg, buffers: newPartBuffers(cfg.PartSize, parts), src: src, dst: dst, progress: progress, log: log}, nil
}

// claimBatch is how many keys are claimed per checkpoint commit at most:
// one commit per batch keeps claims cheap, and at most this many keys (plus
// those in flight) need a destination check after a crash. A batch is no
// larger than twice the keys copied at once: keys claimed and waiting are
// keys other workers of a shared job cannot take.
const claimBatch = 64

// ClaimBatch is how many keys a run of this many workers claims at a time
// (and lists the destination for at once).
func ClaimBatch(workers int) int { return min(claimBatch, 2*workers) }

// Run copies all the work the store has, until none is left, ctx ends, or
// an error fatal for the run occurs (returned). Per-version failures are
// recorded, not returned.
//
// When ctx ends (Ctrl-C), no new work is started; copies in flight get
// Config.StopGrace to finish before their requests are cancelled. Tasks
// claimed but not started are released, so that the next run need not
// check them.
func (e *Executor) Run(ctx context.Context, store Store) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	grace := context.AfterFunc(ctx, func() { time.AfterFunc(e.cfg.StopGrace, cancelWork) })
	defer grace()

	g, gctx := errgroup.WithContext(work)
	g.SetLimit(e.cfg.Workers)
	stopping := func() bool { return ctx.Err() != nil || gctx.Err() != nil || e.budgetSpent() }
	var after planner.KeyCursor
	for !stopping() {
		jobs, err := store.ClaimKeys(gctx, after, ClaimBatch(e.cfg.Workers))
		if err != nil {
			g.Wait()
			return err
		}
		if len(jobs) == 0 {
			break
		}
		after = planner.KeyCursor{Dest: jobs[len(jobs)-1].Dest, Key: jobs[len(jobs)-1].Key}
		var ids []int64
		for _, j := range jobs {
			for _, t := range j.Tasks {
				ids = append(ids, t.ID)
			}
		}
		if err := store.Claim(gctx, ids); err != nil {
			g.Wait()
			return err
		}
		existing, err := e.existingVersions(gctx, jobs)
		if err != nil {
			g.Wait()
			return err
		}
		for i, j := range jobs {
			if stopping() {
				if err := e.release(store, jobs[i:]); err != nil {
					g.Wait()
					return err
				}
				break
			}
			g.Go(func() error { return e.copyKey(gctx, ctx, store, j, existing[i]) })
		}
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return ctx.Err()
		}
		return err
	}
	return ctx.Err()
}

// budgetSpent: Config.Stop says no new version may start.
func (e *Executor) budgetSpent() bool { return e.cfg.Stop != nil && e.cfg.Stop() }

// release records claimed tasks that were never started as pending again.
func (e *Executor) release(store Store, jobs []planner.KeyWork) error {
	for _, j := range jobs {
		for _, t := range j.Tasks {
			if t.InDoubt() {
				continue // still in doubt: the next run checks it
			}
			// Released: claimed but never started; the next run copies it
			// without first checking the destination.
			if err := store.Record(planner.Outcome{TaskID: t.ID, Status: planner.StatusPending}); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyKey replicates one key's versions in order. existing (when not nil)
// are the versions its replica key had before this job, oldest first. A failed version stops
// the key for this run: copying newer versions first would put the
// replica's history out of order; the next run retries from there. ctx
// carries the requests; stop ends the run (no new version is started).
func (e *Executor) copyKey(ctx, stop context.Context, store Store, j planner.KeyWork, existing []destVersion) error {
	tasks := j.Tasks
	// The replica versions of the key accounted for: a version not among
	// them, made since a write began, is that write's.
	known := slices.Clone(j.Replicas)
	var note string // for the outcomes, when the destination key held other versions
	if hasInDoubt(tasks) {
		var (
			listed []string
			err    error
		)
		if tasks, listed, err = e.reconcile(ctx, store, j); err != nil {
			return err
		}
		known = append(known, listed...)
	}
	if existing != nil {
		for _, d := range existing {
			known = append(known, d.id)
		}
		var err error
		if tasks, note, err = e.align(ctx, store, tasks, existing); err != nil {
			return err
		}
	}
	for i, t := range tasks {
		if ctx.Err() != nil || stop.Err() != nil || e.budgetSpent() {
			return e.release(store, []planner.KeyWork{{Tasks: tasks[i:]}})
		}
		o, fatal := e.copyOne(ctx, store, t, known)
		if fatal != nil {
			return fatal
		}
		if note != "" && o.Status == planner.StatusSucceeded {
			o.Message += "; " + note
		}
		if o.Replica.VersionID != "" {
			known = append(known, o.Replica.VersionID)
		}
		if err := e.record(store, o, t.Size); err != nil {
			return err
		}
		if o.Status == planner.StatusFailed && !(keyOnCopy(t) && o.ErrorCode == planner.CodeSSECKeyNotFound) {
			// (A version no key opens is passed over, as when its plan
			// found no key: it never reaches the copy then either.)
			for _, rest := range tasks[i+1:] {
				o := planner.Outcome{TaskID: rest.ID, Status: planner.StatusFailed, ErrorCode: CodePrecedingVersionFailed,
					Message: fmt.Sprintf("not copied: older version %s of this key failed; rerun to retry in order", t.VersionID)}
				if err := e.record(store, o, rest.Size); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

// CodePrecedingVersionFailed marks versions held back because an older
// version of the same key failed in this run.
const CodePrecedingVersionFailed = "PrecedingVersionFailed"

// record stores an outcome and reports it to the progress display.
func (e *Executor) record(store Store, o planner.Outcome, size int64) error {
	if err := store.Record(o); err != nil {
		return err
	}
	if e.progress != nil {
		e.progress.Done(1, size, o.Status == planner.StatusFailed)
	}
	return nil
}

func hasInDoubt(ts []planner.Task) bool {
	for _, t := range ts {
		if t.InDoubt() {
			return true
		}
	}
	return false
}

// copyOne performs one task. It returns a non-nil error only when the run
// must stop.
func (e *Executor) copyOne(ctx context.Context, store Store, t planner.Task, known []string) (planner.Outcome, error) {
	var (
		o   planner.Outcome
		err error
	)
	switch {
	case t.Action == planner.ReplayDelete:
		o, err = e.replayDelete(ctx, t, known)
	case !t.Action.Copies():
		return planner.Outcome{}, fmt.Errorf("task %s@%s: action %q is not a copy", t.Key, t.VersionID, t.Action)
	case keyOnCopy(t):
		o, err = e.copyTryingKeys(ctx, store, t, known)
	default:
		var k sse.Keys
		if k, err = e.resolveKeys(t); err == nil {
			o, err = e.copyVersion(ctx, store, t, k, known)
		}
	}
	if err == nil {
		return o, nil
	}
	var doubt errInDoubt
	if errors.As(err, &doubt) {
		// Neither done nor failed for sure: the task stays claimed, and
		// the next run reconciles it against the destination.
		return planner.Outcome{TaskID: t.ID, Status: planner.StatusCopying, Message: doubt.Error()}, nil
	}
	code, status, class := s3err.Classify(err)
	if class == s3err.Fatal {
		return planner.Outcome{}, fmt.Errorf("copy %s@%s: %w", t.Key, t.VersionID, err)
	}
	var ke *keyError
	if asKeyError(err, &ke) {
		code = ke.code
	}
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line: a server's text may span several
	if t.ReplicaEncryption == planner.DSSEKMS && status == 400 {
		msg = "writing a DSSE-KMS replica was refused (does the destination support DSSE-KMS?): " + msg
	}
	if class == s3err.Retryable {
		msg = "transient, still failing after the SDK's retries; the next run tries again: " + msg
	}
	e.log.Warn("version failed", "key", t.Key, "version", t.VersionID, "code", code, "status", status, "err", err)
	return planner.Outcome{TaskID: t.ID, Status: planner.StatusFailed, ErrorCode: code, HTTPStatus: status, Message: msg}, nil
}
