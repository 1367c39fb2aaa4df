package executor

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// Verify re-checks one replicated version against the live destination:
// the replica version still exists, with the source's size, the ETag it
// had when it was made and, where the source has one, an equal checksum.
// With content, both sides are read in full (SSE-C keys included) and
// their SHA-256 compared. The error is non-nil only when the run must stop.
func (e *Executor) Verify(ctx context.Context, t planner.Task, r planner.Replica, content bool) (status, message string, err error) {
	if t.DeleteMarker {
		return planner.VerifyOK, "delete marker", nil
	}
	resolve := e.resolveReplicaKey
	if content {
		resolve = e.resolveKeys // reading the source needs its key too
	}
	k, err := resolve(t)
	if err != nil {
		return planner.VerifyMismatch, "cannot verify: " + err.Error(), nil
	}
	head, err := e.headReplica(ctx, t, k, r.VersionID)
	if err != nil {
		code, status, class := s3err.Classify(err)
		if class == s3err.Fatal {
			return "", "", err
		}
		if status == 404 {
			return planner.VerifyMismatch, "the replica version is gone", nil
		}
		return planner.VerifyMismatch, fmt.Sprintf("cannot read the replica: %s", code), nil
	}
	var problems []string
	if size := aws.ToInt64(head.ContentLength); size != t.Size {
		problems = append(problems, fmt.Sprintf("size %d, source %d", size, t.Size))
	}
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); r.ETag != "" && etag != strings.Trim(r.ETag, `"`) {
		problems = append(problems, fmt.Sprintf("ETag %s, was %s when copied", etag, strings.Trim(r.ETag, `"`)))
	}
	st, reason := planner.CompareChecksums(t.Checksum, inventory.ChecksumOf(head, t.Checksum.Algorithm))
	if st == planner.ChecksumMismatch {
		problems = append(problems, reason)
	}
	notes := []string{"size"}
	if st == planner.ChecksumMatch {
		notes = append(notes, reason)
	}
	if content && len(problems) == 0 {
		same, detail, err := e.sameContent(ctx, t, k, r)
		if err != nil {
			code, _, class := s3err.Classify(err)
			if class == s3err.Fatal {
				return "", "", err
			}
			return planner.VerifyMismatch, fmt.Sprintf("cannot read for content check: %s", code), nil
		}
		if !same {
			problems = append(problems, detail)
		} else {
			notes = append(notes, detail)
		}
	}
	if len(problems) > 0 {
		return planner.VerifyMismatch, strings.Join(problems, "; "), nil
	}
	return planner.VerifyOK, strings.Join(notes, "; ") + " checked", nil
}

// sameContent streams the source version and the replica through SHA-256.
func (e *Executor) sameContent(ctx context.Context, t planner.Task, k sse.Keys, r planner.Replica) (same bool, detail string, err error) {
	get := &s3.GetObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)}
	k.ApplyGetSource(get)
	src, err := e.digest(ctx, e.src, get)
	if err != nil {
		return false, "", fmt.Errorf("GetObject (source): %w", err)
	}
	rget := &s3.GetObjectInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey)}
	if r.VersionID != "" {
		rget.VersionId = aws.String(r.VersionID)
	}
	k.ApplyGetReplica(rget)
	dst, err := e.digest(ctx, e.dst, rget)
	if err != nil {
		return false, "", fmt.Errorf("GetObject (replica): %w", err)
	}
	if src != dst {
		return false, fmt.Sprintf("content differs: SHA-256 %s, source %s", dst, src), nil
	}
	return true, "SHA-256 of the content equal", nil
}

// getter is the one call digest makes.
type getter interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

func (e *Executor) digest(ctx context.Context, c getter, in *s3.GetObjectInput) (string, error) {
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
