package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersionLister is the one S3 call List makes.
type VersionLister interface {
	ListObjectVersions(ctx context.Context, params *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ VersionLister = (*s3.Client)(nil)

// Version is one listed version or delete marker.
type Version struct {
	Key          string
	VersionID    string // "null" for a version written while versioning was off
	Rank         int    // 0 = newest version of its key
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	ETag         string
	LastModified time.Time
	StorageClass string
}

// List calls fn for every version and delete marker under prefix, in key
// order, newest first within a key (the order S3 lists them in).
func List(ctx context.Context, c VersionLister, bucket, prefix string, fn func(Version) error) error {
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	var lastKey string
	rank := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, v := range merge(page) {
			if v.Key == lastKey {
				rank++
			} else {
				lastKey, rank = v.Key, 0
			}
			v.Rank = rank
			if err := fn(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// merge interleaves a page's versions and delete markers. S3 returns them
// in two lists, each sorted by key then newest first; within a key the
// newer of the two heads comes first (IsLatest breaks a tie).
func merge(page *s3.ListObjectVersionsOutput) []Version {
	out := make([]Version, 0, len(page.Versions)+len(page.DeleteMarkers))
	vs, ds := page.Versions, page.DeleteMarkers
	i, j := 0, 0
	for i < len(vs) || j < len(ds) {
		takeVersion := j >= len(ds)
		if i < len(vs) && j < len(ds) {
			vk, dk := aws.ToString(vs[i].Key), aws.ToString(ds[j].Key)
			switch {
			case vk != dk:
				takeVersion = vk < dk
			case aws.ToBool(vs[i].IsLatest) != aws.ToBool(ds[j].IsLatest):
				takeVersion = aws.ToBool(vs[i].IsLatest)
			default:
				takeVersion = !aws.ToTime(vs[i].LastModified).Before(aws.ToTime(ds[j].LastModified))
			}
		}
		if takeVersion {
			v := vs[i]
			i++
			out = append(out, Version{
				Key:          aws.ToString(v.Key),
				VersionID:    versionID(v.VersionId),
				IsLatest:     aws.ToBool(v.IsLatest),
				Size:         aws.ToInt64(v.Size),
				ETag:         aws.ToString(v.ETag),
				LastModified: aws.ToTime(v.LastModified),
				StorageClass: string(v.StorageClass),
			})
		} else {
			d := ds[j]
			j++
			out = append(out, Version{
				Key:          aws.ToString(d.Key),
				VersionID:    versionID(d.VersionId),
				IsLatest:     aws.ToBool(d.IsLatest),
				DeleteMarker: true,
				LastModified: aws.ToTime(d.LastModified),
			})
		}
	}
	return out
}

// versionID names the version written while versioning was off "null",
// as S3 does in requests.
func versionID(id *string) string {
	if s := aws.ToString(id); s != "" {
		return s
	}
	return "null"
}
