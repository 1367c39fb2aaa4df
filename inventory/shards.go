package inventory

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/planner"
)

// shardDepth is how many folder levels Shards descends while a level has
// a single folder and nothing else.
const shardDepth = 4

// Shards splits the source under prefix (empty, or ending in "/") for
// workers to list side by side: one shard per folder directly under it,
// and one for the keys directly under it. A level holding one folder and
// no key is split a level deeper instead (up to shardDepth). The shards
// cover every key under prefix exactly once.
func Shards(ctx context.Context, c VersionLister, bucket, prefix string) ([]planner.Shard, error) {
	for range shardDepth {
		folders, direct, err := folders(ctx, c, bucket, prefix)
		if err != nil {
			return nil, err
		}
		if len(folders) == 1 && !direct {
			prefix = folders[0]
			continue
		}
		out := []planner.Shard{{Prefix: prefix, Direct: true}}
		for _, f := range folders {
			out = append(out, planner.Shard{Prefix: f})
		}
		return out, nil
	}
	return []planner.Shard{{Prefix: prefix}}, nil
}

// folders lists the folders directly under prefix, and whether any key is
// directly under it.
func folders(ctx context.Context, c VersionLister, bucket, prefix string) (folders []string, direct bool, err error) {
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket),
		Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("list the folders of s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			folders = append(folders, aws.ToString(cp.Prefix))
		}
		direct = direct || len(page.Versions) > 0 || len(page.DeleteMarkers) > 0
	}
	return folders, direct, nil
}

// ListShard calls fn for every version and delete marker of the shard, in
// List's order; a shard with All is the whole source under prefix.
func ListShard(ctx context.Context, c VersionLister, bucket, prefix string, sh planner.Shard, fn func(planner.Version) error) error {
	if !sh.All {
		prefix = sh.Prefix
	}
	p := newPager(c, bucket, prefix, sh.After, sh.Direct)
	for p.More() {
		page, err := p.Next(ctx)
		if err != nil {
			return err
		}
		for _, v := range page {
			if err := fn(v); err != nil {
				return err
			}
		}
	}
	return nil
}
