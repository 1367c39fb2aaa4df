package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// errNoPartETag: a part copy answered without the part's ETag, which
// CompleteMultipartUpload needs. No conforming server does that; a proxy
// in between might.
var errNoPartETag = errors.New("the response carries no part ETag")

// abortTimeout bounds the cleanup of a failed upload, which runs even when
// the run is being cancelled.
const abortTimeout = 30 * time.Second

// multipartCopy copies a version in parts: CreateMultipartUpload, then
// UploadPartCopy per part (or, streaming, a ranged GET and UploadPart), in
// parallel, then CompleteMultipartUpload. Nothing is carried over by S3
// here, so metadata, content headers and tags come from the source.
//
// The upload id and every finished part are recorded as they happen; a run
// after a crash or an interruption continues the same upload (confirmed
// with ListParts) and copies only the parts missing. A copy that fails is
// aborted; one stopped by the run ending is kept for the next run.
func (e *Executor) multipartCopy(ctx context.Context, store Store, t planner.Task, k sse.Keys, stream bool, known []string) (copyResult, error) {
	lay := e.layoutOf(ctx, t, k)
	fp := fingerprint(t, lay, stream)
	uploadID, done, err := e.resumable(ctx, store, t, k, fp, stream)
	if err != nil {
		return copyResult{}, err
	}
	resumed := len(done)
	var tags []types.Tag
	tagsKnown := false // a resumed upload's tags are read again if needed
	if uploadID == "" {
		// The intent first, durably: an upload the server makes whose id
		// is then lost (a crash, a lost answer) is found from it.
		intent := planner.Upload{TaskID: t.ID, Bucket: t.Dest, Key: t.DestKey, Fingerprint: fp, PartSizes: lay.sizes}
		if err := store.SaveUpload(ctx, intent); err != nil {
			return copyResult{}, s3err.StopRun(err)
		}
		if uploadID, tags, err = e.createUpload(ctx, t, k, stream); err != nil {
			if !answerLost(err) {
				// Refused: no upload was made; the intent has no use.
				if derr := store.DropUpload(context.WithoutCancel(ctx), t.ID); derr != nil {
					return copyResult{}, s3err.StopRun(derr)
				}
			}
			return copyResult{}, err
		}
		tagsKnown = true
		intent.UploadID = uploadID
		if err := store.SaveUpload(ctx, intent); err != nil {
			e.abort(ctx, t, uploadID)
			return copyResult{}, s3err.StopRun(err)
		}
	}
	parts := make([]types.CompletedPart, len(lay.sizes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.partWorkersFor(lay))
	for i, size := range lay.sizes {
		n := int32(i + 1)
		if p, ok := done[n]; ok {
			parts[i] = completedPart(p)
			continue
		}
		first := lay.offset(i)
		g.Go(func() error {
			var p planner.Part
			var err error
			if stream {
				p, err = e.streamPart(gctx, t, k, uploadID, n, first, size)
			} else {
				p, err = e.copyPart(gctx, t, k, uploadID, n, first, size)
			}
			if err != nil {
				return err
			}
			if err := store.SavePart(gctx, uploadID, p); err != nil {
				return s3err.StopRun(err)
			}
			parts[i] = completedPart(p)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() == nil && !s3err.StopsRun(err) {
			e.abandon(ctx, store, t, uploadID)
		}
		return copyResult{}, err
	}
	method := "UploadPartCopy"
	if stream {
		method = "streamed parts"
	}
	res, err := e.makeReplica(ctx, t, known, func(ctx context.Context) (copyResult, error) {
		return e.complete(ctx, t, k, uploadID, parts, method)
	})
	if err != nil {
		if ctx.Err() == nil {
			e.abandon(ctx, store, t, uploadID)
		}
		return copyResult{}, err
	}
	if err := store.DropUpload(context.WithoutCancel(ctx), t.ID); err != nil {
		return copyResult{}, s3err.StopRun(err)
	}
	if err := e.carryTags(ctx, t, k, res.versionID, tags, tagsKnown); err != nil {
		return copyResult{}, err
	}
	res.layout = lay.how
	if resumed > 0 {
		res.method += fmt.Sprintf(", %d of %d parts from an interrupted run", resumed, len(parts))
	}
	return res, nil
}

// resumable returns the recorded upload of the task and its finished parts
// when it can be continued: same plan and layout (fingerprint), still
// there, parts confirmed by ListParts with their sizes. An upload that
// cannot be continued is aborted and forgotten.
func (e *Executor) resumable(ctx context.Context, store Store, t planner.Task, k sse.Keys, fp string, stream bool) (string, map[int32]planner.Part, error) {
	u, err := store.LoadUpload(ctx, t.ID)
	if err != nil {
		return "", nil, s3err.StopRun(err)
	}
	if u == nil {
		return "", nil, nil
	}
	forget := func() error {
		return s3err.StopRun(store.DropUpload(ctx, t.ID))
	}
	old := t
	old.Dest, old.DestKey = u.Bucket, u.Key
	if u.UploadID == "" {
		// Only the intent was recorded: whatever upload the server made
		// for it is aborted (it has no part this job knows of).
		if err := e.abortSince(ctx, old, u.Started); err != nil {
			return "", nil, err
		}
		return "", nil, forget()
	}
	if u.Fingerprint != fp {
		e.log.Info("the plan of an unfinished upload changed; aborting it", "key", t.Key, "upload_id", u.UploadID)
		e.abort(ctx, old, u.UploadID)
		return "", nil, forget()
	}
	listed, err := e.listParts(ctx, t, k, u.UploadID)
	if err != nil {
		code, status, class := s3err.Classify(err)
		if class == s3err.Fatal {
			return "", nil, err
		}
		if status == 404 || code == "NoSuchUpload" {
			e.log.Info("an unfinished upload is gone; starting over", "key", t.Key, "upload_id", u.UploadID)
		} else {
			e.log.Warn("cannot list the parts of an unfinished upload; aborting it", "key", t.Key, "upload_id", u.UploadID, "code", code)
			e.abort(ctx, old, u.UploadID)
		}
		return "", nil, forget()
	}
	done := map[int32]planner.Part{}
	for _, p := range u.Parts {
		l, ok := listed[p.Number]
		if ok && int(p.Number) <= len(u.PartSizes) && l.size == u.PartSizes[p.Number-1] &&
			strings.Trim(l.etag, `"`) == strings.Trim(p.ETag, `"`) && (!stream || p.Checksum != "") {
			done[p.Number] = p
		}
	}
	return u.UploadID, done, nil
}

type listedPart struct {
	etag string
	size int64
}

// listParts lists the parts the server has for an upload.
func (e *Executor) listParts(ctx context.Context, t planner.Task, k sse.Keys, uploadID string) (map[int32]listedPart, error) {
	out := map[int32]listedPart{}
	in := &s3.ListPartsInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey), UploadId: aws.String(uploadID)}
	k.ApplyListParts(in)
	p := s3.NewListPartsPaginator(e.dst, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListParts: %w", err)
		}
		for _, part := range page.Parts {
			out[aws.ToInt32(part.PartNumber)] = listedPart{aws.ToString(part.ETag), aws.ToInt64(part.Size)}
		}
	}
	return out, nil
}

// createUpload starts the replica's upload with everything S3 does not
// carry over for multipart copies.
func (e *Executor) createUpload(ctx context.Context, t planner.Task, k sse.Keys, stream bool) (string, []types.Tag, error) {
	attrs, err := e.sourceAttributes(ctx, t, k)
	if err != nil {
		return "", nil, err
	}
	create := &s3.CreateMultipartUploadInput{
		Bucket:       aws.String(t.Dest),
		Key:          aws.String(t.DestKey),
		StorageClass: storageClass(t.ReplicaClass()),
	}
	if stream {
		// Streamed parts carry their CRC32 (the SDK computes it); a copy's
		// parts must not declare one: MinIO then refuses every part copy.
		create.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	attrs.applyCreateMultipart(create)
	k.ApplyCreateMultipart(create, sse.ReplicaOf(t.Decision))
	e.lockOf(t).applyCreate(create)
	acl, err := e.aclOf(ctx, t)
	if err != nil {
		return "", nil, err
	}
	acl.applyCreate(create)
	up, err := e.dst.CreateMultipartUpload(ctx, create, once)
	if err != nil {
		return "", nil, fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	return aws.ToString(up.UploadId), attrs.tags, nil
}

// completedPart is a finished part as CompleteMultipartUpload lists it.
func completedPart(p planner.Part) types.CompletedPart {
	cp := types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	if p.Checksum != "" {
		cp.ChecksumCRC32 = aws.String(p.Checksum)
	}
	return cp
}

// copyPart copies one part server-side.
func (e *Executor) copyPart(ctx context.Context, t planner.Task, k sse.Keys, uploadID string, n int32, first, size int64) (planner.Part, error) {
	in := &s3.UploadPartCopyInput{
		Bucket:          aws.String(t.Dest),
		Key:             aws.String(t.DestKey),
		UploadId:        aws.String(uploadID),
		PartNumber:      aws.Int32(n),
		CopySource:      aws.String(copySource(e.cfg.SourceBucket, t.Key, t.VersionID)),
		CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, first+size-1)),
	}
	k.ApplyUploadPartCopy(in)
	out, err := e.dst.UploadPartCopy(ctx, in)
	if err != nil {
		return planner.Part{}, fmt.Errorf("UploadPartCopy part %d: %w", n, err)
	}
	if out.CopyPartResult == nil || out.CopyPartResult.ETag == nil {
		return planner.Part{}, fmt.Errorf("UploadPartCopy part %d: %w", n, errNoPartETag)
	}
	return planner.Part{Number: n, ETag: aws.ToString(out.CopyPartResult.ETag)}, nil
}

// streamPart reads one part's range of the source into memory and uploads
// it: memory in use is the size of the parts in flight.
func (e *Executor) streamPart(ctx context.Context, t planner.Task, k sse.Keys, uploadID string, n int32, first, size int64) (planner.Part, error) {
	get := &s3.GetObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, first+size-1))}
	k.ApplyGetSource(get)
	obj, err := e.src.GetObject(ctx, get)
	if err != nil {
		return planner.Part{}, fmt.Errorf("GetObject (source) part %d: %w", n, err)
	}
	buf, err := e.buffers.get(ctx, size)
	if err != nil {
		obj.Body.Close()
		return planner.Part{}, err
	}
	defer e.buffers.put(buf)
	_, err = io.ReadFull(obj.Body, buf)
	obj.Body.Close()
	if err != nil {
		return planner.Part{}, fmt.Errorf("GetObject (source) part %d body: %w", n, err)
	}
	// The part's CRC32 goes in a header (see integrity).
	sum, contentMD5 := e.integrity("CRC32", buf)
	in := &s3.UploadPartInput{
		Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(n), Body: bytes.NewReader(buf), ContentLength: aws.Int64(size),
		ChecksumCRC32: aws.String(sum),
	}
	if contentMD5 != "" {
		in.ContentMD5 = aws.String(contentMD5)
	}
	k.ApplyUploadPart(in)
	out, err := e.dst.UploadPart(ctx, in)
	if err != nil {
		return planner.Part{}, fmt.Errorf("UploadPart part %d: %w", n, err)
	}
	if err := e.checksumAnswered(fmt.Sprintf("UploadPart part %d", n), "CRC32", sum, aws.ToString(out.ChecksumCRC32)); err != nil {
		return planner.Part{}, err
	}
	// A server that keeps no checksums (RGW) answers none; the part's own
	// is what CompleteMultipartUpload lists.
	return planner.Part{Number: n, ETag: aws.ToString(out.ETag), Checksum: sum}, nil
}

// dropUpload aborts and forgets the recorded upload of a task that will not
// use it (its copy took another way, or its replica exists already).
func (e *Executor) dropUpload(ctx context.Context, store Store, t planner.Task) error {
	u, err := store.LoadUpload(ctx, t.ID)
	if err != nil || u == nil {
		return s3err.StopRun(err)
	}
	old := t
	old.Dest, old.DestKey = u.Bucket, u.Key
	if u.UploadID == "" {
		if err := e.abortSince(ctx, old, u.Started); err != nil {
			return err
		}
	} else {
		e.abort(ctx, old, u.UploadID)
	}
	return s3err.StopRun(store.DropUpload(ctx, t.ID))
}

// abandon aborts a failed upload and forgets it.
func (e *Executor) abandon(ctx context.Context, store Store, t planner.Task, uploadID string) {
	e.abort(ctx, t, uploadID)
	if err := store.DropUpload(context.WithoutCancel(ctx), t.ID); err != nil {
		e.log.Warn("could not forget an aborted upload in the checkpoint", "upload_id", uploadID, "err", err)
	}
}

// complete finishes an upload.
func (e *Executor) complete(ctx context.Context, t planner.Task, k sse.Keys, uploadID string, parts []types.CompletedPart, method string) (copyResult, error) {
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(t.Dest),
		Key:             aws.String(t.DestKey),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	k.ApplyComplete(in)
	out, err := e.dst.CompleteMultipartUpload(ctx, in, once)
	if err != nil {
		return copyResult{}, fmt.Errorf("CompleteMultipartUpload: %w", err)
	}
	return copyResult{versionID: aws.ToString(out.VersionId), etag: aws.ToString(out.ETag),
		method: fmt.Sprintf("%s (%d parts)", method, len(parts)), answer: answerOfComplete(out)}, nil
}

// abort cleans up an upload on a context of its own, so that it runs even
// while the run is stopping.
func (e *Executor) abort(ctx context.Context, t planner.Task, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := e.dst.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey), UploadId: aws.String(uploadID)})
	if err != nil {
		e.log.Warn("could not abort multipart upload; it keeps its parts until aborted",
			"bucket", t.Dest, "key", t.DestKey, "upload_id", uploadID, "err", err)
	}
}

// abortSince aborts the uploads of t's replica key initiated since started
// (less the clock skew allowed): the uploads an intent recorded then may
// have made. The listing names the exact key, which MinIO answers for too.
func (e *Executor) abortSince(ctx context.Context, t planner.Task, started time.Time) error {
	var found []PendingUpload
	err := e.ListUploads(ctx, t.Dest, t.DestKey, func(u PendingUpload) {
		if u.Key == t.DestKey && !u.Initiated.Before(started.Add(-clockSkew)) {
			found = append(found, u)
		}
	})
	if err != nil {
		if _, _, class := s3err.Classify(err); class == s3err.Fatal {
			return err
		}
		return fmt.Errorf("list the uploads of %s to find one a crash left: %w", t.DestKey, err)
	}
	for _, u := range found {
		e.log.Info("aborting an upload whose id was never recorded", "key", t.DestKey, "upload_id", u.UploadID)
		e.abort(ctx, t, u.UploadID)
	}
	return nil
}
