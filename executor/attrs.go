package executor

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// attributes are what a copy must carry over by hand where S3 does not
// copy them itself (multipart and streamed copies).
type attributes struct {
	metadata           map[string]string
	contentType        *string
	contentEncoding    *string
	contentDisposition *string
	contentLanguage    *string
	cacheControl       *string
	expires            *time.Time
	tagging            *string // URL query form, as the Tagging header takes it
	tags               []types.Tag
}

// sourceAttributes reads a version's metadata (HEAD, with its SSE-C key)
// and tags (GetObjectTagging).
func (e *Executor) sourceAttributes(ctx context.Context, t planner.Task, k sse.Keys) (attributes, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)}
	k.ApplyHeadSource(in)
	head, err := e.src.HeadObject(ctx, in)
	if err != nil {
		return attributes{}, fmt.Errorf("HeadObject (source): %w", err)
	}
	a := attributes{
		metadata:           head.Metadata,
		contentType:        head.ContentType,
		contentEncoding:    head.ContentEncoding,
		contentDisposition: head.ContentDisposition,
		contentLanguage:    head.ContentLanguage,
		cacheControl:       head.CacheControl,
		expires:            head.Expires, //nolint:staticcheck // ExpiresString is the raw form; the request takes a time
	}
	tags, err := e.src.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{
		Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)})
	if err != nil {
		return attributes{}, fmt.Errorf("GetObjectTagging (source): %w", err)
	}
	if len(tags.TagSet) > 0 {
		a.tags = tags.TagSet
		q := url.Values{}
		for _, tag := range tags.TagSet {
			q.Set(aws.ToString(tag.Key), aws.ToString(tag.Value))
		}
		a.tagging = aws.String(q.Encode())
	}
	return a, nil
}

func (a attributes) applyCreateMultipart(in *s3.CreateMultipartUploadInput) {
	in.Metadata, in.ContentType, in.ContentEncoding = a.metadata, a.contentType, a.contentEncoding
	in.ContentDisposition, in.ContentLanguage, in.CacheControl = a.contentDisposition, a.contentLanguage, a.cacheControl
	in.Expires, in.Tagging = a.expires, a.tagging
}

func (a attributes) applyPutObject(in *s3.PutObjectInput) {
	in.Metadata, in.ContentType, in.ContentEncoding = a.metadata, a.contentType, a.contentEncoding
	in.ContentDisposition, in.ContentLanguage, in.CacheControl = a.contentDisposition, a.contentLanguage, a.cacheControl
	in.Expires, in.Tagging = a.expires, a.tagging
}
