package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// job is one open job: its settings, checkpoint, clients, keys and rules.
type job struct {
	settings Settings
	source   location
	rules    jobRules
	db       *checkpoint.DB
	clients  clients
	ring     *planner.KeyRing
	log      *slog.Logger
	progress progressFactory

	ssecMix ssecMix // SSE-C share of the versions inspected so far

	runNo     int64
	stopStats context.CancelFunc
	statsDone chan struct{}
}

// stopGrace is how long copies in flight may finish after Ctrl-C: a few
// seconds, so that most small copies land and a large one keeps the parts
// it finished (its upload continues next run).
const stopGrace = 5 * time.Second

// statsInterval is how often a run records its request traffic for status.
const statsInterval = 5 * time.Second

// startStats records this run and keeps its traffic figures current.
func (j *job) startStats(ctx context.Context, command string) error {
	no, err := j.db.BeginRun(ctx, command)
	if err != nil {
		return err
	}
	j.runNo = no
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j.stopStats, j.statsDone = cancel, make(chan struct{})
	go j.clients.traffic.sample(sctx)
	go func() {
		defer close(j.statsDone)
		t := time.NewTicker(statsInterval)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if err := j.db.UpdateRun(sctx, j.runNo, j.runStats(), false); err != nil {
					j.log.Debug("could not record the run's traffic", "err", err)
				}
			}
		}
	}()
	return nil
}

func (j *job) runStats() checkpoint.RunStats {
	req, th := j.clients.traffic.stats()
	return checkpoint.RunStats{Requests: req, Throttled: th, Rate: j.clients.traffic.rate()}
}

// close records the run's final traffic and closes the checkpoint.
func (j *job) close() {
	if j.stopStats != nil {
		j.stopStats()
		<-j.statsDone
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := j.db.UpdateRun(ctx, j.runNo, j.runStats(), true); err != nil {
			j.log.Warn("could not record the run's traffic", "err", err)
		}
		if req, th := j.clients.traffic.stats(); th > 0 {
			j.log.Info("S3 slowed this run down", "requests", req, "throttled", th)
		}
	}
	j.db.Close()
}

// scan lists the source into the checkpoint. Versions already recorded
// keep their plan and outcome, so a rescan adds only what is new.
func (j *job) scan(ctx context.Context) (checkpoint.ScanStats, error) {
	src := j.source
	scan, err := j.db.BeginScan(ctx, j.rules.targets())
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
		// Keep what was listed: the next scan adds only the rest.
		bar.finish()
		return checkpoint.ScanStats{}, errors.Join(err, scan.Stop())
	}
	st, err := scan.Finish(ctx)
	bar.finish()
	return st, err
}

// copyAll runs the executor over every planned copy.
func (j *job) copyAll(ctx context.Context) error {
	rows, bytes, err := j.db.CountWork(ctx)
	if err != nil {
		return err
	}
	bar := j.progress.bar("copy", "versions copied", rows, bytes)
	defer bar.finish()
	ex, err := j.executor(bar)
	if err != nil {
		return err
	}
	rec := j.db.NewRecorder()
	runErr := ex.Run(ctx, &store{db: j.db, rec: rec})
	// The recorder flushes on a context of its own: what finished before a
	// cancellation or a fatal error is kept.
	return errors.Join(runErr, rec.Close())
}

// executor makes the job's executor, reporting to progress.
func (j *job) executor(progress executor.Progress) (*executor.Executor, error) {
	return executor.New(executor.Config{
		SourceBucket:  j.source.Bucket,
		Workers:       j.settings.Workers,
		PartWorkers:   j.settings.PartWorkers,
		PartSize:      j.settings.PartSize,
		Stream:        j.clients.stream,
		Keys:          j.ring,
		StopGrace:     stopGrace,
		StreamParts:   j.settings.maxInFlight(),
		CutAtPartSize: j.settings.PartLayout == "size",
	}, j.clients.src, j.clients.dst, progress, j.log.With("component", "executor"))
}

// store adapts the checkpoint to the executor's Store.
type store struct {
	db  *checkpoint.DB
	rec *checkpoint.Recorder
}

var _ executor.Store = (*store)(nil)

func (s *store) NextWork(ctx context.Context, after executor.Cursor, limit int) ([]executor.KeyJob, error) {
	work, err := s.db.NextWork(ctx, checkpoint.WorkCursor{Dest: after.Dest, Key: after.Key}, limit)
	if err != nil {
		return nil, err
	}
	jobs := make([]executor.KeyJob, 0, len(work))
	for _, w := range work {
		kj := executor.KeyJob{Dest: w.Dest, Key: w.Key}
		for _, r := range w.Todo {
			kj.Tasks = append(kj.Tasks, taskOf(r))
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

// taskOf is the executor's view of a planned row.
func taskOf(r checkpoint.Row) executor.Task {
	claimed, _ := time.Parse(time.RFC3339Nano, r.ClaimedAt)
	return executor.Task{
		ID: r.ID, Key: r.Key, VersionID: r.VersionID, DestBucket: r.Dest, DestKey: r.DestKey, DeleteMarker: r.DeleteMarker,
		Size: r.Size, ETag: r.ETag, StorageClass: firstNonEmpty(r.ReplicaStorageClass, r.StorageClass),
		SourceChecksum: planner.Checksum{Algorithm: r.ChecksumAlgorithm, Value: r.Checksum, Type: r.ChecksumType},
		InDoubt:        r.Status == checkpoint.StatusCopying, ClaimedAt: claimed, HasUpload: r.HasUpload,
		Action: planner.Action(r.Action), SourceEncryption: planner.Encryption(r.SourceEncryption),
		SSECKeyID: r.SSECKeyID, ReplicaEncryption: planner.Encryption(r.ReplicaEncryption),
		ReplicaKMSKeyID: r.ReplicaKMSKeyID, ReplicaSSECKeyID: r.ReplicaSSECKeyID,
		ReplicaBucketKey: r.BucketKey && r.ReplicaEncryption == string(planner.SSEKMS),
	}
}

func (s *store) Claim(ctx context.Context, ids []int64) error { return s.db.Claim(ctx, ids) }

func (s *store) LoadUpload(ctx context.Context, taskID int64) (*executor.Upload, error) {
	u, err := s.db.LoadUpload(ctx, taskID)
	if err != nil || u == nil {
		return nil, err
	}
	out := &executor.Upload{UploadID: u.UploadID, Bucket: u.Bucket, Key: u.Key, Fingerprint: u.Fingerprint, PartSizes: u.PartSizes}
	for _, p := range u.Parts {
		out.Parts = append(out.Parts, executor.Part{Number: p.Number, ETag: p.ETag, Checksum: p.Checksum})
	}
	return out, nil
}

func (s *store) SaveUpload(ctx context.Context, taskID int64, u executor.Upload) error {
	return s.db.SaveUpload(ctx, checkpoint.Upload{RowID: taskID, UploadID: u.UploadID, Bucket: u.Bucket, Key: u.Key,
		Fingerprint: u.Fingerprint, PartSizes: u.PartSizes})
}

func (s *store) SavePart(ctx context.Context, uploadID string, p executor.Part) error {
	return s.db.SavePart(ctx, uploadID, checkpoint.Part{Number: p.Number, ETag: p.ETag, Checksum: p.Checksum})
}

func (s *store) DropUpload(ctx context.Context, uploadID string) error {
	return s.db.DropUpload(ctx, uploadID)
}

func (s *store) Record(o executor.Outcome) error {
	return s.rec.Record(checkpoint.Outcome{
		ID: o.ID, Status: o.Status, DestVersionID: o.DestVersionID, ReplicaETag: o.ReplicaETag,
		ETagStatus: o.ETagStatus, ETagReason: o.ETagReason, ChecksumStatus: o.ChecksumStatus, PartLayout: o.PartLayout,
		ChecksumReason: o.ChecksumReason, ReplicaEncryption: string(o.ReplicaEncryption), ReplicaKMSKeyID: o.ReplicaKMSKeyID,
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
