package inventory

import (
	"context"
	"fmt"
	"iter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// Header is the one S3 call Inspect makes.
type Header interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

var _ Header = (*s3.Client)(nil)

// Inspect HEADs one version. Without a key S3 answers 400 for an SSE-C
// version; then each candidate key is tried in order (403 means wrong key)
// until one opens it. An SSE-C version that no candidate opens is not an
// error: the planner records it failed with a code that says so. Other
// errors (the version is gone, access denied, throttling) are returned.
//
// With keysFirst (most versions seen so far were SSE-C), the first
// candidate is tried before the keyless HEAD: a non-SSE-C version answers
// 400 to a HEAD with a key, so the guess costs one request when wrong and
// saves one when right.
func Inspect(ctx context.Context, c Header, bucket, key, versionID string, candidates iter.Seq[*planner.Key], keysFirst bool) (planner.Inspection, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID),
		ChecksumMode: types.ChecksumModeEnabled}
	var ins planner.Inspection
	if candidates == nil {
		candidates = func(func(*planner.Key) bool) {}
	}
	if keysFirst {
		next, stop := iter.Pull(candidates)
		defer stop()
		if first, ok := next(); ok {
			found, wrongKey, err := tryKey(ctx, c, in, first, &ins)
			switch {
			case err != nil:
				return ins, err
			case found:
				return ins, nil
			case wrongKey:
				return ins, tryKeys(ctx, c, in, func(yield func(*planner.Key) bool) {
					for k, ok := next(); ok && yield(k); k, ok = next() {
					}
				}, &ins)
			}
			// 400: not SSE-C; the keyless HEAD says what it is.
		}
	}
	out, err := c.HeadObject(ctx, in)
	if err == nil {
		read(out, &ins)
		return ins, nil
	}
	if s3err.Status(err) != 400 {
		return ins, fmt.Errorf("head %s@%s: %w", key, versionID, err)
	}
	return ins, tryKeys(ctx, c, in, candidates, &ins)
}

// tryKeys tries candidate keys on an SSE-C version until one opens it.
func tryKeys(ctx context.Context, c Header, in *s3.HeadObjectInput, candidates iter.Seq[*planner.Key], ins *planner.Inspection) error {
	ins.Inspected, ins.Encryption = true, planner.SSEC
	for k := range candidates {
		found, _, err := tryKey(ctx, c, in, k, ins)
		if err != nil || found {
			return err
		}
	}
	return nil
}

// tryKey HEADs a version with one key: found when it opens it; wrongKey
// (403) when the version is SSE-C under another key. A 400 is neither: the
// version is not SSE-C.
func tryKey(ctx context.Context, c Header, in *s3.HeadObjectInput, k *planner.Key, ins *planner.Inspection) (found, wrongKey bool, err error) {
	tin := *in
	sse.Keys{Src: k}.ApplyHeadSource(&tin)
	out, err := c.HeadObject(ctx, &tin)
	switch status := s3err.Status(err); {
	case err == nil:
		read(out, ins)
		ins.SSECKeyID = k.ID
		return true, false, nil
	case status == 403:
		ins.Inspected, ins.Encryption = true, planner.SSEC
		return false, true, nil
	case status == 400:
		return false, false, nil
	default:
		return false, false, fmt.Errorf("head %s@%s with key %s: %w", aws.ToString(in.Key), aws.ToString(in.VersionId), k.ID, err)
	}
}

// Tagger is the one call Tags makes.
type Tagger interface {
	GetObjectTagging(ctx context.Context, params *s3.GetObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
}

// Tags reads one version's tags (replication rules may filter on them).
func Tags(ctx context.Context, c Tagger, bucket, key, versionID string) (map[string]string, error) {
	out, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return nil, fmt.Errorf("tags of %s@%s: %w", key, versionID, err)
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}
