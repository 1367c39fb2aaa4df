package job

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/internal/s3err"
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
	return out, nil
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
