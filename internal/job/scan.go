package job

import (
	"context"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// Scan lists the source into the checkpoint. Versions already recorded
// keep their plan and outcome, so a rescan adds only what is new; an
// interrupted scan keeps what it listed. On a store many processes share,
// the listing is split into shards (a folder each) that they list side
// by side.
func (j *Job) Scan(ctx context.Context) (_ planner.ScanStats, err error) {
	defer func() { err = j.scrub(err) }()
	src := j.settings.Source
	bar := j.Progress.Start("scan", "versions listed", 0, 0)
	defer bar.Finish()
	return j.Store.RecordShardedScan(ctx, j.rules.targets(),
		func(ctx context.Context) ([]planner.Shard, error) {
			return inventory.Shards(ctx, j.Source, src.Bucket, src.Prefix)
		},
		func(ctx context.Context, sh planner.Shard, add func(planner.Version) error) error {
			return inventory.ListShard(ctx, j.Source, src.Bucket, src.Prefix, sh, func(v planner.Version) error {
				bar.Done(1, 0, false)
				return add(v)
			})
		})
}
