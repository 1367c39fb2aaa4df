package executor

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// streamCopy copies a version through this process: GET from the source
// (decrypting SSE-C with the source key) and upload to the destination
// (encrypting with the replica's key or KMS key), in parts above the part
// size. It is for sources the destination cannot read itself: another
// endpoint, or credentials that cannot read the source and write the
// destination in one request. Memory stays within part size × part workers.
func (e *Executor) streamCopy(ctx context.Context, t Task, k keys) (copyResult, error) {
	attrs, err := e.sourceAttributes(ctx, t, k)
	if err != nil {
		return copyResult{}, err
	}
	get := &s3.GetObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)}
	k.applyGetSource(get)
	obj, err := e.src.GetObject(ctx, get)
	if err != nil {
		return copyResult{}, fmt.Errorf("GetObject (source): %w", err)
	}
	defer obj.Body.Close()

	put := &s3.PutObjectInput{
		Bucket:       aws.String(t.DestBucket),
		Key:          aws.String(t.DestKey),
		Body:         obj.Body,
		StorageClass: storageClass(t.StorageClass),
	}
	attrs.applyPutObject(put)
	k.applyPutObject(put, replicaSSEOf(t))
	parts, partSize := partLayout(t.Size, e.cfg.PartSize)
	if parts == 1 {
		// One part: read it into a buffer of its own size (the manager
		// would take a whole part-sized buffer even for 4 KiB), and have
		// the replica checksummed with the source's algorithm.
		buf, err := e.buffers.get(ctx, t.Size)
		if err != nil {
			return copyResult{}, err
		}
		defer e.buffers.put(buf)
		if _, err := io.ReadFull(obj.Body, buf); err != nil {
			return copyResult{}, fmt.Errorf("GetObject (source) body: %w", err)
		}
		put.Body, put.ContentLength = bytes.NewReader(buf), aws.Int64(t.Size)
		if c := t.SourceChecksum; c.Algorithm != "" && c.Type != "COMPOSITE" {
			put.ChecksumAlgorithm = types.ChecksumAlgorithm(c.Algorithm)
		}
	}
	up := manager.NewUploader(e.dst, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = e.cfg.PartWorkers
		// A failed upload is aborted (the manager's default), so a failed
		// stream leaves no parts behind.
		u.LeavePartsOnError = false
	})
	out, err := up.Upload(ctx, put)
	if err != nil {
		return copyResult{}, fmt.Errorf("streamed upload: %w", err)
	}
	method := "stream"
	if parts > 1 {
		method = fmt.Sprintf("stream (%d parts)", parts)
	}
	return copyResult{versionID: aws.ToString(out.VersionID), etag: aws.ToString(out.ETag), method: method}, nil
}
