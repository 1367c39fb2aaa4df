package job

import (
	"context"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// Scan lists the source into the checkpoint. Versions already recorded
// keep their plan and outcome, so a rescan adds only what is new; an
// interrupted scan keeps what it listed.
func (j *Job) Scan(ctx context.Context) (_ planner.ScanStats, err error) {
	defer func() { err = j.scrub(err) }()
	src := j.settings.Source
	bar := j.Progress.Start("scan", "versions listed", 0, 0)
	defer bar.Finish()
	return j.Store.RecordScan(ctx, j.rules.targets(), func(add func(planner.Version) error) error {
		return inventory.List(ctx, j.Source, src.Bucket, src.Prefix, func(v planner.Version) error {
			bar.Done(1, 0, false)
			return add(v)
		})
	})
}
