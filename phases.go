package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// job is one open job: its settings, checkpoint, clients and keys.
type job struct {
	settings Settings
	db       *checkpoint.DB
	clients  clients
	ring     *planner.KeyRing
	log      *slog.Logger
	progress progressFactory
}

// scan lists the source into the checkpoint. Versions already recorded
// keep their plan and outcome, so a rescan adds only what is new.
func (j *job) scan(ctx context.Context) (checkpoint.ScanStats, error) {
	src, _ := parseS3URL("source", j.settings.Source)
	scan, err := j.db.BeginScan(ctx)
	if err != nil {
		return checkpoint.ScanStats{}, err
	}
	bar := j.progress.counter("scan", "versions listed")
	err = inventory.List(ctx, j.clients.src, src.Bucket, src.Prefix, func(v inventory.Version) error {
		bar.add(1, 0)
		return scan.Add(ctx, checkpoint.Version{
			Key: v.Key, VersionID: v.VersionID, Rank: v.Rank, IsLatest: v.IsLatest, DeleteMarker: v.DeleteMarker,
			Size: v.Size, ETag: v.ETag, LastModified: v.LastModified, StorageClass: v.StorageClass,
		})
	})
	if err != nil {
		bar.finish()
		return checkpoint.ScanStats{}, err
	}
	st, err := scan.Finish(ctx)
	bar.finish()
	return st, err
}

// planPage is how many rows are planned (and their plans committed) at a time.
const planPage = 1000

// plan inspects every version not yet done (HEAD, trying SSE-C keys) and
// applies the rules to it. Inspections run in parallel; plans are written
// a page at a time.
func (j *job) plan(ctx context.Context) error {
	total, err := j.db.CountToPlan(ctx)
	if err != nil {
		return err
	}
	bar := j.progress.bar("plan", "versions planned", total, 0)
	defer bar.finish()
	rules := j.settings.rules()
	src, _ := parseS3URL("source", j.settings.Source)
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := j.db.PlanPage(ctx, after, planPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		plans := make([]checkpoint.Plan, len(page))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(j.settings.Workers)
		for i, r := range page {
			g.Go(func() error {
				p, err := j.planRow(gctx, src.Bucket, rules, r)
				plans[i] = p
				bar.add(1, 0)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := j.db.SavePlans(ctx, plans); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

// planRow inspects a row if needed and decides its plan. The error is
// returned only when the run must stop.
func (j *job) planRow(ctx context.Context, bucket string, rules planner.Rules, r checkpoint.PlanRow) (checkpoint.Plan, error) {
	src := planner.Source{
		Key: r.Key, VersionID: r.VersionID, DeleteMarker: r.DeleteMarker, Size: r.Size,
		Encryption: planner.Encryption(r.SourceEncryption), KMSKeyID: r.KMSKeyID, SSECKeyID: r.SSECKeyID,
		NewerReplicated: r.NewerReplicated,
	}
	inspected := r.Inspected || r.DeleteMarker
	// An SSE-C version is inspected again when the key that opened it is
	// gone, or none did: the key file may have changed since.
	if !inspected || (src.Encryption == planner.SSEC && j.ring.ByID(src.SSECKeyID) == nil) {
		ins, err := inventory.Inspect(ctx, j.clients.src, bucket, r.Key, r.VersionID, j.ring.Candidates(r.Key))
		if err != nil {
			code, status, class := executor.Classify(err)
			if class == executor.Fatal {
				return checkpoint.Plan{}, err
			}
			return checkpoint.Plan{ID: r.ID, Status: checkpoint.StatusFailed, Action: string(planner.Fail),
				ErrorCode: headErrorCode(code, status), HTTPStatus: status, Message: err.Error()}, nil
		}
		inspected = true
		src.Encryption, src.KMSKeyID, src.SSECKeyID = ins.Encryption, ins.KMSKeyID, ins.SSECKeyID
	}
	d := planner.Decide(src, rules, j.ring)
	p := checkpoint.Plan{
		ID: r.ID, Inspected: inspected,
		SourceEncryption: string(src.Encryption), KMSKeyID: src.KMSKeyID, SSECKeyID: src.SSECKeyID,
		Action: string(d.Action), DestKey: d.DestKey,
		ReplicaEncryption: string(d.ReplicaEncryption), ReplicaKMSKeyID: d.ReplicaKMSKeyID, ReplicaSSECKeyID: d.ReplicaSSECKeyID,
		Status: checkpoint.StatusPending, ErrorCode: d.ErrorCode, Message: d.Reason,
	}
	switch d.Action {
	case planner.Skip:
		p.Status = checkpoint.StatusSkipped
	case planner.Fail:
		p.Status = checkpoint.StatusFailed
	}
	return p, nil
}

// headErrorCode names a failed HEAD of the source in S3 Batch
// Replication's words where it has them. HEAD answers carry no error body,
// so the SDK only knows the status.
func headErrorCode(code string, status int) string {
	switch status {
	case 403:
		return "SrcHeadObjectNotPermitted"
	case 404:
		return "SrcKeyNotFound"
	}
	return code
}

// copyAll runs the executor over every planned copy.
func (j *job) copyAll(ctx context.Context) error {
	rows, bytes, err := j.db.CountWork(ctx)
	if err != nil {
		return err
	}
	src, _ := parseS3URL("source", j.settings.Source)
	dst, _ := parseS3URL("dest", j.settings.Dest)
	bar := j.progress.bar("copy", "versions copied", rows, bytes)
	defer bar.finish()
	ex, err := executor.New(executor.Config{
		SourceBucket: src.Bucket,
		DestBucket:   dst.Bucket,
		Workers:      j.settings.Workers,
		PartWorkers:  j.settings.PartWorkers,
		PartSize:     j.settings.PartSize,
		Stream:       j.clients.stream,
		Keys:         j.ring,
	}, j.clients.src, j.clients.dst, bar, j.log.With("component", "executor"))
	if err != nil {
		return err
	}
	rec := j.db.NewRecorder()
	runErr := ex.Run(ctx, &store{db: j.db, rec: rec})
	// The recorder flushes on a context of its own: what finished before a
	// cancellation or a fatal error is kept.
	return errors.Join(runErr, rec.Close())
}

// store adapts the checkpoint to the executor's Store.
type store struct {
	db  *checkpoint.DB
	rec *checkpoint.Recorder
}

var _ executor.Store = (*store)(nil)

func (s *store) NextWork(ctx context.Context, afterKey string, limit int) ([]executor.KeyJob, error) {
	work, err := s.db.NextWork(ctx, afterKey, limit)
	if err != nil {
		return nil, err
	}
	jobs := make([]executor.KeyJob, 0, len(work))
	for _, w := range work {
		kj := executor.KeyJob{Key: w.Key}
		for _, r := range w.Todo {
			claimed, _ := time.Parse(time.RFC3339Nano, r.ClaimedAt)
			kj.Tasks = append(kj.Tasks, executor.Task{
				ID: r.ID, Key: r.Key, VersionID: r.VersionID, DestKey: r.DestKey, DeleteMarker: r.DeleteMarker,
				Size: r.Size, ETag: r.ETag, StorageClass: r.StorageClass,
				InDoubt: r.Status == checkpoint.StatusCopying, ClaimedAt: claimed,
				Action: planner.Action(r.Action), SourceEncryption: planner.Encryption(r.SourceEncryption),
				SSECKeyID: r.SSECKeyID, ReplicaEncryption: planner.Encryption(r.ReplicaEncryption),
				ReplicaKMSKeyID: r.ReplicaKMSKeyID, ReplicaSSECKeyID: r.ReplicaSSECKeyID,
			})
			kj.DestKey = r.DestKey
		}
		for _, r := range w.Done {
			if r.DestVersionID != "" {
				kj.KnownDests = append(kj.KnownDests, r.DestVersionID)
			}
		}
		jobs = append(jobs, kj)
	}
	return jobs, nil
}

func (s *store) Claim(ctx context.Context, ids []int64) error { return s.db.Claim(ctx, ids) }

func (s *store) Record(o executor.Outcome) error {
	return s.rec.Record(checkpoint.Outcome{
		ID: o.ID, Status: o.Status, DestVersionID: o.DestVersionID, ReplicaETag: o.ReplicaETag,
		ETagStatus: o.ETagStatus, ReplicaEncryption: string(o.ReplicaEncryption), ReplicaKMSKeyID: o.ReplicaKMSKeyID,
		ErrorCode: o.ErrorCode, HTTPStatus: o.HTTPStatus, Message: o.Message,
	})
}

// describeDuration prints a duration rounded for people.
func describeDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
