package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// errNoPartETag: a part copy answered without the part's ETag, which
// CompleteMultipartUpload needs. No conforming server does that; a proxy
// in between might.
var errNoPartETag = errors.New("the response carries no part ETag")

// maxParts is S3's limit on parts per upload.
const maxParts = 10000

// partLayout splits size into parts of partSize, growing the part size
// when the object would need more than maxParts parts.
func partLayout(size, partSize int64) (n int, ps int64) {
	ps = partSize
	for (size+ps-1)/ps > maxParts {
		ps *= 2
	}
	n = int((size + ps - 1) / ps)
	if n == 0 {
		n = 1
	}
	return n, ps
}

// abortTimeout bounds the cleanup of a failed upload, which runs even when
// the run is being cancelled.
const abortTimeout = 30 * time.Second

// multipartCopy copies a version with CreateMultipartUpload, UploadPartCopy
// (parts in parallel) and CompleteMultipartUpload. Nothing is carried over
// by S3 here, so metadata, content headers and tags come from the source.
// A failed copy is aborted.
func (e *Executor) multipartCopy(ctx context.Context, t Task, k keys) (copyResult, error) {
	attrs, err := e.sourceAttributes(ctx, t, k)
	if err != nil {
		return copyResult{}, err
	}
	create := &s3.CreateMultipartUploadInput{
		Bucket:       aws.String(t.DestBucket),
		Key:          aws.String(t.DestKey),
		StorageClass: storageClass(t.StorageClass),
	}
	attrs.applyCreateMultipart(create)
	k.applyCreateMultipart(create, replicaSSEOf(t))
	up, err := e.dst.CreateMultipartUpload(ctx, create)
	if err != nil {
		return copyResult{}, fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	uploadID := aws.ToString(up.UploadId)

	n, ps := partLayout(t.Size, e.cfg.PartSize)
	parts := make([]types.CompletedPart, n)
	source := copySource(e.cfg.SourceBucket, t.Key, t.VersionID)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.PartWorkers)
	for i := range n {
		first := int64(i) * ps
		last := min(first+ps, t.Size) - 1
		g.Go(func() error {
			in := &s3.UploadPartCopyInput{
				Bucket:          aws.String(t.DestBucket),
				Key:             aws.String(t.DestKey),
				UploadId:        aws.String(uploadID),
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      aws.String(source),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			}
			k.applyUploadPartCopy(in)
			out, err := e.dst.UploadPartCopy(gctx, in)
			if err != nil {
				return fmt.Errorf("UploadPartCopy part %d: %w", i+1, err)
			}
			if out.CopyPartResult == nil || out.CopyPartResult.ETag == nil {
				return fmt.Errorf("UploadPartCopy part %d: %w", i+1, errNoPartETag)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		e.abort(ctx, t, uploadID)
		return copyResult{}, err
	}
	return e.complete(ctx, t, k, uploadID, parts, "UploadPartCopy")
}

// complete finishes an upload, aborting it if that fails.
func (e *Executor) complete(ctx context.Context, t Task, k keys, uploadID string, parts []types.CompletedPart, method string) (copyResult, error) {
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(t.DestBucket),
		Key:             aws.String(t.DestKey),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	k.applyComplete(in)
	out, err := e.dst.CompleteMultipartUpload(ctx, in)
	if err != nil {
		e.abort(ctx, t, uploadID)
		return copyResult{}, fmt.Errorf("CompleteMultipartUpload: %w", err)
	}
	return copyResult{versionID: aws.ToString(out.VersionId), etag: aws.ToString(out.ETag),
		method: fmt.Sprintf("%s (%d parts)", method, len(parts))}, nil
}

// abort cleans up an upload on a context of its own: a cancelled run must
// not leave parts behind.
func (e *Executor) abort(ctx context.Context, t Task, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := e.dst.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(t.DestBucket), Key: aws.String(t.DestKey), UploadId: aws.String(uploadID)})
	if err != nil {
		e.log.Warn("could not abort multipart upload; it keeps its parts until aborted",
			"bucket", t.DestBucket, "key", t.DestKey, "upload_id", uploadID, "err", err)
	}
}
