package executor

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// A replica made in parts gets its tags from CreateMultipartUpload's
// x-amz-tagging, which Ceph RGW (Pacific) accepts and drops. So the first
// tagged replica a run makes in parts is read back (GetObjectTagging): where
// its tags arrived the endpoint keeps them and nothing more is asked; where
// they did not, they are put (PutObjectTagging) on it and, for the rest of
// the run, on every tagged replica made in parts, without asking again.

// Tags on CreateMultipartUpload, as learned.
const (
	tagsUnknown int32 = iota
	tagsKept
	tagsDropped
)

// carryTags makes sure the replica version just completed in parts
// (versionID; "" where the answer named none: the key's latest, which the
// worker copying this key wrote last) carries the source's tags. tags are
// those sent on CreateMultipartUpload when known; a resumed upload's are
// read from the source again, if needed.
func (e *Executor) carryTags(ctx context.Context, t planner.Task, k sse.Keys, versionID string, tags []types.Tag, known bool) error {
	state := e.tagsOnCreate.Load()
	if state == tagsKept {
		return nil
	}
	if !known {
		attrs, err := e.sourceAttributes(ctx, t, k)
		if err != nil {
			return err
		}
		tags = attrs.tags
	}
	if len(tags) == 0 {
		return nil
	}
	var version *string
	if versionID != "" {
		version = aws.String(versionID)
	}
	if state == tagsUnknown {
		got, err := e.dst.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey), VersionId: version})
		if err != nil {
			return fmt.Errorf("GetObjectTagging (replica): %w", err)
		}
		if len(got.TagSet) == len(tags) {
			e.tagsOnCreate.CompareAndSwap(tagsUnknown, tagsKept)
			return nil
		}
		e.log.Info("the endpoint drops the tags of multipart uploads: they are put on each replica made in parts after it is complete",
			"key", t.Key, "version", t.VersionID)
		e.tagsOnCreate.Store(tagsDropped)
	}
	if _, err := e.dst.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey),
		VersionId: version, Tagging: &types.Tagging{TagSet: tags}}); err != nil {
		return fmt.Errorf("PutObjectTagging (replica): %w", err)
	}
	return nil
}
