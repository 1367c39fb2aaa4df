package job

import (
	"context"

	"github.com/s3backfill/s3backfill/planner"
)

// Status is what status shows of a job.
type Status struct {
	Counts  []planner.Count
	LastRun *planner.RunStats // nil before the first run
	Workers []planner.Worker  // of a shared store: live ones first
}

// ReadStatus reads a job's counts and its last run. It needs no S3 client
// and works on a checkpoint a run is writing.
func ReadStatus(ctx context.Context, rows RowReader) (Status, error) {
	counts, err := rows.Counts(ctx)
	if err != nil {
		return Status{}, err
	}
	last, err := rows.LastRun(ctx)
	if err != nil {
		return Status{}, err
	}
	workers, err := rows.Workers(ctx)
	if err != nil {
		return Status{}, err
	}
	return Status{Counts: counts, LastRun: last, Workers: workers}, nil
}
