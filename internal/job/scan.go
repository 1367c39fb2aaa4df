package job

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// Scan lists the source into the checkpoint. Versions already recorded
// keep their plan and outcome, so a rescan adds only what is new; an
// interrupted scan keeps what it listed. On a store many processes share,
// the listing is split into shards (a folder each) that they list side
// by side.
func (j *Job) Scan(ctx context.Context) (st planner.ScanStats, err error) {
	end := j.phase("scan")
	defer func() {
		err = j.scrub(err)
		end(err, "seen", st.Seen, "added", st.Added)
	}()
	if j.settings.Manifest != "" {
		return j.scanManifest(ctx)
	}
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

// scanManifest records the versions a manifest names (--manifest), with
// what it says of them, instead of listing the source. The manifest is
// read and checked whole before any version is recorded; one a scan
// loaded whole before (same location and ETag) is not read again.
func (j *Job) scanManifest(ctx context.Context) (st planner.ScanStats, err error) {
	defer func() {
		// A manifest that is not one, damaged or of another bucket is the
		// user's to fix, like a bad flag: nothing was recorded of it.
		var bad *inventory.BadManifest
		if errors.As(err, &bad) {
			err = UsageError{err}
		}
	}()
	files := inventory.Files{S3: j.Manifests}
	if files.S3 == nil {
		files.S3 = j.Source
	}
	loc := j.settings.Manifest
	if !strings.HasPrefix(loc, "s3://") {
		abs, err := filepath.Abs(loc) // recorded: a rerun elsewhere names the same file
		if err != nil {
			return planner.ScanStats{}, err
		}
		loc = abs
	}
	m, err := inventory.ReadManifest(ctx, files, loc)
	if err != nil {
		return planner.ScanStats{}, err
	}
	src := j.settings.Source
	opt := inventory.LoadOptions{
		Bucket: src.Bucket, Prefix: src.Prefix, Lister: j.Source,
		NeedReplicationStatus: len(j.settings.Spec.Filter.ReplicationStatuses) > 0,
		Warn:                  j.Notice,
	}
	bar := j.Progress.Start("scan", "versions loaded", 0, 0)
	defer bar.Finish()
	// A scan is recorded even when the manifest was loaded before: on a
	// shared store it is the pass's scan, which the other workers wait for.
	st, err = j.Store.RecordScan(ctx, j.rules.targets(), func(add func(planner.Version) error) error {
		if loaded, err := j.Store.ManifestLoaded(ctx, loc, m.ETag); err != nil || loaded {
			if loaded {
				j.Log.Info("manifest already loaded: nothing new to scan", "manifest", loc, "etag", m.ETag)
			}
			return err
		}
		return m.Versions(ctx, opt, func(v planner.Version) error {
			bar.Done(1, 0, false)
			return add(v)
		})
	})
	if err != nil {
		return st, err
	}
	if st.By == "" { // this process loaded it
		if err := j.Store.SaveManifest(ctx, loc, m.ETag, st.Seen); err != nil {
			return st, err
		}
	}
	return st, nil
}
