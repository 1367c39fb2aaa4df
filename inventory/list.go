package inventory

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// VersionLister is the one S3 call List makes.
type VersionLister interface {
	ListObjectVersions(ctx context.Context, params *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ VersionLister = (*s3.Client)(nil)

// List calls fn for every version and delete marker under prefix, in key
// order, newest first within a key (the order S3 lists them in).
func List(ctx context.Context, c VersionLister, bucket, prefix string, fn func(planner.Version) error) error {
	return ListShard(ctx, c, bucket, prefix, planner.Shard{All: true}, fn)
}

// Pager lists versions and delete markers page by page, in List's order:
// for callers that read a listing as they go (the executor reads the
// destination's alongside the work).
type Pager struct {
	p              *s3.ListObjectVersionsPaginator
	capture        bodyCapture
	bucket, prefix string
	lastKey        string
	rank           int
}

// NewPager lists the versions under prefix, from the first key after
// startAfter ("" = from the first).
func NewPager(c VersionLister, bucket, prefix, startAfter string) *Pager {
	return newPager(c, bucket, prefix, startAfter, false)
}

// newPager is NewPager; direct lists only the keys directly under prefix.
func newPager(c VersionLister, bucket, prefix, startAfter string, direct bool) *Pager {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.KeyMarker = aws.String(startAfter)
	}
	if direct {
		in.Delimiter = aws.String("/")
	}
	return &Pager{p: s3.NewListObjectVersionsPaginator(c, in), bucket: bucket, prefix: prefix}
}

// More reports whether there are pages left.
func (p *Pager) More() bool { return p.p.HasMorePages() }

// Next lists the next page. Ranks count on across pages.
func (p *Pager) Next(ctx context.Context) ([]planner.Version, error) {
	page, err := p.p.NextPage(ctx, p.capture.option)
	if err != nil {
		return nil, fmt.Errorf("list versions of s3://%s/%s: %w", p.bucket, p.prefix, err)
	}
	var refs []entryRef
	if len(page.Versions) > 0 && len(page.DeleteMarkers) > 0 {
		// Only pages with both kinds need the order of the body.
		refs, _ = p.capture.order()
	}
	out := merge(page, refs)
	for i := range out {
		if out[i].Key == p.lastKey {
			p.rank++
		} else {
			p.lastKey, p.rank = out[i].Key, 0
		}
		out[i].Rank = p.rank
	}
	return out, nil
}

// merge interleaves a page's versions and delete markers in the order the
// server listed them (refs, read from the response body). Without a usable
// order it merges the two lists, each sorted by key then newest first, by
// time: within a key the newer head comes first, IsLatest breaks a tie.
func merge(page *s3.ListObjectVersionsOutput, refs []entryRef) []planner.Version {
	vs, ds := page.Versions, page.DeleteMarkers
	if out, ok := mergeByRefs(vs, ds, refs); ok {
		return out
	}
	if len(ds) == 0 { // nothing to interleave
		out := make([]planner.Version, len(vs))
		for i, v := range vs {
			out[i] = fromVersion(v)
		}
		return out
	}
	out := make([]planner.Version, 0, len(vs)+len(ds))
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
			out = append(out, fromVersion(vs[i]))
			i++
		} else {
			out = append(out, fromDeleteMarker(ds[j]))
			j++
		}
	}
	return out
}

// mergeByRefs orders the page as refs say. It fails (ok false) unless refs
// name exactly the page's entries: then nothing is guessed.
func mergeByRefs(vs []types.ObjectVersion, ds []types.DeleteMarkerEntry, refs []entryRef) (out []planner.Version, ok bool) {
	if len(refs) != len(vs)+len(ds) {
		return nil, false
	}
	out = make([]planner.Version, 0, len(refs))
	i, j := 0, 0
	for _, r := range refs {
		// Each list is in listing order too, so the next entry of the
		// kind the ref names must be the one it names.
		if r.deleteMarker {
			if j >= len(ds) || aws.ToString(ds[j].Key) != r.key || rawVersionID(ds[j].VersionId) != r.versionID {
				return nil, false
			}
			out = append(out, fromDeleteMarker(ds[j]))
			j++
		} else {
			if i >= len(vs) || aws.ToString(vs[i].Key) != r.key || rawVersionID(vs[i].VersionId) != r.versionID {
				return nil, false
			}
			out = append(out, fromVersion(vs[i]))
			i++
		}
	}
	return out, true
}

func fromVersion(v types.ObjectVersion) planner.Version {
	return planner.Version{
		Key:          aws.ToString(v.Key),
		VersionID:    versionID(v.VersionId),
		IsLatest:     aws.ToBool(v.IsLatest),
		Size:         aws.ToInt64(v.Size),
		ETag:         aws.ToString(v.ETag),
		LastModified: aws.ToTime(v.LastModified),
		StorageClass: string(v.StorageClass),
	}
}

func fromDeleteMarker(d types.DeleteMarkerEntry) planner.Version {
	return planner.Version{
		Key:          aws.ToString(d.Key),
		VersionID:    versionID(d.VersionId),
		IsLatest:     aws.ToBool(d.IsLatest),
		DeleteMarker: true,
		LastModified: aws.ToTime(d.LastModified),
	}
}

func rawVersionID(id *string) string { return aws.ToString(id) }

// versionID names the version written while versioning was off "null",
// as S3 does in requests.
func versionID(id *string) string {
	if s := aws.ToString(id); s != "" {
		return s
	}
	return "null"
}
