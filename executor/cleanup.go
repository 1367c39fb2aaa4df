package executor

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
)

// AbortUpload aborts one multipart upload. One that is already gone
// (completed or aborted) is not an error.
func (e *Executor) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	_, err := e.dst.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		if code, status, _ := s3err.Classify(err); code == "NoSuchUpload" || status == 404 {
			return nil
		}
		return fmt.Errorf("abort upload %s of s3://%s/%s: %w", uploadID, bucket, key, err)
	}
	return nil
}

// PendingUpload is an incomplete multipart upload found in a bucket.
type PendingUpload struct {
	Key, UploadID string
	Initiated     time.Time
}

// ListUploads calls fn for every incomplete multipart upload under prefix.
func (e *Executor) ListUploads(ctx context.Context, bucket, prefix string, fn func(PendingUpload)) error {
	p := s3.NewListMultipartUploadsPaginator(e.dst, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list incomplete uploads of s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, u := range page.Uploads {
			fn(PendingUpload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
	}
	return nil
}
