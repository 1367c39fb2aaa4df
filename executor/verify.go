package executor

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// Replica is what the checkpoint recorded of a replica when it was made.
type Replica struct {
	VersionID string
	ETag      string
}

// Verification results.
const (
	VerifyOK       = "ok"
	VerifyMismatch = "mismatch"
)

// Verify re-checks one replicated version against the live destination:
// the replica version still exists, with the source's size, the ETag it
// had when it was made and, where the source has one, an equal checksum.
// With content, both sides are read in full (SSE-C keys included) and
// their SHA-256 compared. The error is non-nil only when the run must stop.
func (e *Executor) Verify(ctx context.Context, t Task, r Replica, content bool) (status, message string, err error) {
	if t.DeleteMarker {
		return VerifyOK, "delete marker", nil
	}
	resolve := e.resolveReplicaKey
	if content {
		resolve = e.resolveKeys // reading the source needs its key too
	}
	k, err := resolve(t)
	if err != nil {
		return VerifyMismatch, "cannot verify: " + err.Error(), nil
	}
	head, err := e.headReplica(ctx, t, k, r.VersionID)
	if err != nil {
		code, status, class := Classify(err)
		if class == Fatal {
			return "", "", err
		}
		if status == 404 {
			return VerifyMismatch, "the replica version is gone", nil
		}
		return VerifyMismatch, fmt.Sprintf("cannot read the replica: %s", code), nil
	}
	var problems []string
	if size := aws.ToInt64(head.ContentLength); size != t.Size {
		problems = append(problems, fmt.Sprintf("size %d, source %d", size, t.Size))
	}
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); r.ETag != "" && etag != strings.Trim(r.ETag, `"`) {
		problems = append(problems, fmt.Sprintf("ETag %s, was %s when copied", etag, strings.Trim(r.ETag, `"`)))
	}
	st, reason := planner.CompareChecksums(t.SourceChecksum, inventory.ChecksumOf(head, t.SourceChecksum.Algorithm))
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
			code, _, class := Classify(err)
			if class == Fatal {
				return "", "", err
			}
			return VerifyMismatch, fmt.Sprintf("cannot read for content check: %s", code), nil
		}
		if !same {
			problems = append(problems, detail)
		} else {
			notes = append(notes, detail)
		}
	}
	if len(problems) > 0 {
		return VerifyMismatch, strings.Join(problems, "; "), nil
	}
	return VerifyOK, strings.Join(notes, "; ") + " checked", nil
}

// sameContent streams the source version and the replica through SHA-256.
func (e *Executor) sameContent(ctx context.Context, t Task, k keys, r Replica) (same bool, detail string, err error) {
	get := &s3.GetObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key), VersionId: aws.String(t.VersionID)}
	k.applyGetSource(get)
	src, err := e.digest(ctx, e.src, get)
	if err != nil {
		return false, "", fmt.Errorf("GetObject (source): %w", err)
	}
	rget := &s3.GetObjectInput{Bucket: aws.String(t.DestBucket), Key: aws.String(t.DestKey)}
	if r.VersionID != "" {
		rget.VersionId = aws.String(r.VersionID)
	}
	setCustomerKey(&rget.SSECustomerAlgorithm, &rget.SSECustomerKey, &rget.SSECustomerKeyMD5, k.dst)
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
