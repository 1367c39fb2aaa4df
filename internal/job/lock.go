package job

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/planner"
)

// objectLockDests finds the destination buckets that have Object Lock
// (their copies carry their sources' retention and legal hold), and warns
// once when the source has Object Lock and a destination has not: the
// locks of its versions will not be carried (each such version's report
// row says so).
func (j *Job) objectLockDests(ctx context.Context) (map[string]bool, error) {
	src, err := lockEnabled(ctx, j.Source, j.settings.Source.Bucket)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range j.rules.targets() {
		if out[d], err = lockEnabled(ctx, j.Dest, d); err != nil {
			return nil, err
		}
		if src && !out[d] {
			j.Notice(fmt.Sprintf("the source bucket has Object Lock and bucket %s has not: the versions' retention and legal holds "+
				"are not carried to their replicas there (the report says so per version)", d))
		}
	}
	if src {
		if err := j.probeLockReadable(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// probeLockReadable finds out whether the versions' Object Lock can be
// read: a HEAD shows it only to a caller allowed s3:GetObjectRetention and
// s3:GetObjectLegalHold, and leaves it out, silently, for others. One
// GetObjectRetention of a version to copy tells; when it is refused, the
// run says so, and no lock is carried where none was read.
func (j *Job) probeLockReadable(ctx context.Context) error {
	work, err := j.Store.NextWork(ctx, planner.KeyCursor{}, 1)
	if err != nil || len(work) == 0 || len(work[0].Tasks) == 0 {
		return err
	}
	t := work[0].Tasks[0]
	_, err = j.Source.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(j.settings.Source.Bucket),
		Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)})
	switch code, status, class := s3err.Classify(err); {
	case err == nil:
	case class == s3err.Fatal:
		return err
	case status == 403:
		j.Notice(fmt.Sprintf("the source's Object Lock settings cannot be read with these credentials (GetObjectRetention: %s): "+
			"no version's retention or legal hold is carried; allow s3:GetObjectRetention and s3:GetObjectLegalHold to carry them", code))
	}
	return nil
}

// lockEnabled reports whether a bucket has Object Lock. An endpoint that
// does not implement it, or a bucket without a configuration, has none;
// an error that stops the run is returned.
func lockEnabled(ctx context.Context, c executor.PreflightSource, bucket string) (bool, error) {
	out, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		if _, _, class := s3err.Classify(err); class == s3err.Fatal {
			return false, err
		}
		return false, nil
	}
	cfg := out.ObjectLockConfiguration
	return cfg != nil && cfg.ObjectLockEnabled == types.ObjectLockEnabledEnabled, nil
}
