package executor

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// streamCopy copies a version of at most one part through this process:
// GET from the source (decrypting SSE-C with the source key) into a buffer
// of its size, then one PutObject through the SDK's upload manager
// (encrypting with the replica's key or KMS key, checksummed with the
// source's algorithm). It is for sources the destination cannot read
// itself: another endpoint, or credentials that cannot read the source and
// write the destination in one request. Larger objects are streamed part
// by part (multipartCopy), resumable.
func (e *Executor) streamCopy(ctx context.Context, t planner.Task, k sse.Keys, known []string) (copyResult, error) {
	attrs, err := e.sourceAttributes(ctx, t, k)
	if err != nil {
		return copyResult{}, err
	}
	get := &s3.GetObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)}
	k.ApplyGetSource(get)
	obj, err := e.src.GetObject(ctx, get)
	if err != nil {
		return copyResult{}, fmt.Errorf("GetObject (source): %w", err)
	}
	defer obj.Body.Close()
	buf, err := e.buffers.get(ctx, t.Size)
	if err != nil {
		return copyResult{}, err
	}
	defer e.buffers.put(buf)
	if _, err := io.ReadFull(obj.Body, buf); err != nil {
		return copyResult{}, fmt.Errorf("GetObject (source) body: %w", err)
	}
	put := &s3.PutObjectInput{
		Bucket:        aws.String(t.Dest),
		Key:           aws.String(t.DestKey),
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(t.Size),
		StorageClass:  storageClass(t.ReplicaClass()),
	}
	// The replica is checksummed with the source's algorithm, in a header
	// (see integrity); a full-object checksum of the source must be that
	// of the bytes read.
	var alg string
	if asksChecksum(t.Checksum) {
		alg = t.Checksum.Algorithm
	}
	sum, contentMD5 := e.integrity(alg, buf)
	if alg != "" && t.Checksum.Value != "" && sum != t.Checksum.Value {
		return copyResult{}, fmt.Errorf("GetObject (source): the bytes read have %s %s, not the source's %s", alg, sum, t.Checksum.Value)
	}
	setChecksum(put, alg, sum)
	if contentMD5 != "" {
		put.ContentMD5 = aws.String(contentMD5)
	}
	attrs.applyPutObject(put)
	k.ApplyPutObject(put, sse.ReplicaOf(t.Decision))
	e.lockOf(t).applyPut(put)
	acl, err := e.aclOf(ctx, t)
	if err != nil {
		return copyResult{}, err
	}
	acl.applyPut(put)
	// One part: the manager sends a single PutObject, sent once.
	up := manager.NewUploader(e.dst, func(u *manager.Uploader) {
		u.PartSize = max(e.cfg.PartSize, t.Size)
		u.ClientOptions = append(u.ClientOptions, once)
	})
	return e.makeReplica(ctx, t, known, func(ctx context.Context) (copyResult, error) {
		put.Body = bytes.NewReader(buf)
		out, err := up.Upload(ctx, put)
		if err != nil {
			return copyResult{}, fmt.Errorf("streamed upload: %w", err)
		}
		if err := e.checksumAnswered("streamed upload", alg, sum, answerOfUpload(out).checksum(alg).Value); err != nil {
			return copyResult{}, err
		}
		return copyResult{versionID: aws.ToString(out.VersionID), etag: aws.ToString(out.ETag), method: "stream",
			answer: answerOfUpload(out)}, nil
	})
}

// setChecksum puts the checksum value of algorithm alg on put.
func setChecksum(put *s3.PutObjectInput, alg, sum string) {
	switch alg {
	case "CRC32":
		put.ChecksumCRC32 = aws.String(sum)
	case "CRC32C":
		put.ChecksumCRC32C = aws.String(sum)
	case "CRC64NVME":
		put.ChecksumCRC64NVME = aws.String(sum)
	case "SHA1":
		put.ChecksumSHA1 = aws.String(sum)
	case "SHA256":
		put.ChecksumSHA256 = aws.String(sum)
	}
}
