package job

import (
	"context"
	"errors"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// Copy runs the executor over every planned copy: keys in parallel, the
// versions of a key oldest first. What finished is recorded even when the
// run is interrupted or stops on a fatal error.
func (j *Job) Copy(ctx context.Context) error {
	rows, bytes, err := j.Store.CountWork(ctx)
	if err != nil {
		return err
	}
	bar := j.Progress.Start("copy", "versions copied", rows, bytes)
	defer bar.Finish()
	ex, err := j.executor(bar)
	if err != nil {
		return err
	}
	runErr := ex.Run(ctx, j.Store)
	// The store flushes on a context of its own: what finished before a
	// cancellation or a fatal error is kept.
	return errors.Join(runErr, j.Store.Flush())
}

// executor makes the job's executor, reporting to progress (may be nil).
func (j *Job) executor(progress executor.Progress) (*executor.Executor, error) {
	s := j.settings
	return executor.New(executor.Config{
		SourceBucket:  s.Source.Bucket,
		Workers:       s.Spec.Workers,
		PartWorkers:   s.Spec.PartWorkers,
		PartSize:      s.Spec.PartSize,
		Stream:        s.Stream,
		Keys:          j.Keys,
		StopGrace:     StopGrace,
		StreamParts:   s.MaxInFlight,
		CutAtPartSize: s.cutAtPartSize(),
	}, j.Source, j.Dest, progress, j.Log.With("component", "executor"))
}

// Failed is the number of failed tasks.
func (j *Job) Failed(ctx context.Context) (int64, error) {
	counts, err := j.Store.Counts(ctx)
	if err != nil {
		return 0, err
	}
	var failed int64
	for _, n := range counts {
		if n.Status == planner.StatusFailed {
			failed += n.Rows
		}
	}
	return failed, nil
}
