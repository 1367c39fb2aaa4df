package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/s3err"
)

// PreflightSource is what the checks read of the source.
type PreflightSource interface {
	HeadBucket(ctx context.Context, params *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	GetBucketVersioning(ctx context.Context, params *s3.GetBucketVersioningInput, optFns ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(ctx context.Context, params *s3.GetObjectLockConfigurationInput, optFns ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	GetObjectRetention(ctx context.Context, params *s3.GetObjectRetentionInput, optFns ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error)
}

// PreflightDest is what the checks read of (and probe in) a destination.
type PreflightDest interface {
	PreflightSource
	GetBucketEncryption(ctx context.Context, params *s3.GetBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	GetBucketOwnershipControls(ctx context.Context, params *s3.GetBucketOwnershipControlsInput, optFns ...func(*s3.Options)) (*s3.GetBucketOwnershipControlsOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var (
	_ PreflightSource = (*s3.Client)(nil)
	_ PreflightDest   = (*s3.Client)(nil)
)

// Preflight says what a job will do, for the checks.
type Preflight struct {
	// SourceEndpoint and DestEndpoint name the endpoints in findings
	// ("" = AWS's).
	SourceEndpoint, DestEndpoint string
	SourceBucket                 string
	Targets                      []PreflightTarget
	// ProbeKMS: write and delete a zero-byte object with each replica KMS
	// key, the only way to know a key can be used before copying.
	ProbeKMS bool
}

// PreflightTarget is one destination bucket of the job.
type PreflightTarget struct {
	Bucket  string
	KMSKeys []string // replica KMS key ids the rules name for it
	SSEC    bool     // SSE-C replicas may be written there
}

// Finding is one thing the checks found.
type Finding struct {
	Error   bool // would make copies fail; otherwise a warning
	Message string
}

// fewRetries: a check answers a question about the setup; a wrong endpoint
// should say so in seconds, not after the full retry budget of a copy.
func fewRetries(o *s3.Options) { o.RetryMaxAttempts = 2 }

// ProbePrefix is where the KMS probe writes; it removes what it writes.
const ProbePrefix = ".s3backfill-probe/"

// RunPreflight checks, before the first copy, what would make every copy
// fail: buckets that are missing or unreachable with these credentials,
// versioning (history cannot be kept without it), replica KMS keys that
// cannot be used, and destinations that block SSE-C. It returns every
// finding; the error is non-nil only when ctx ends.
func RunPreflight(ctx context.Context, src PreflightSource, dst PreflightDest, p Preflight) ([]Finding, error) {
	var fs []Finding
	add := func(isErr bool, format string, a ...any) {
		fs = append(fs, Finding{Error: isErr, Message: fmt.Sprintf(format, a...)})
	}
	if ok := checkBucket(ctx, src, "source", p.SourceBucket, p.SourceEndpoint, add); ok {
		checkVersioning(ctx, src, "source", p.SourceBucket, add,
			"there may be no version history to copy, only current objects")
	}
	for _, t := range p.Targets {
		if ok := checkBucket(ctx, dst, "destination", t.Bucket, p.DestEndpoint, add); !ok {
			continue
		}
		checkVersioning(ctx, dst, "destination", t.Bucket, add,
			"each copy of a key replaces the last, so the replica cannot keep the source's history")
		if t.SSEC {
			checkSSECAllowed(ctx, dst, t.Bucket, add)
		}
		if p.ProbeKMS {
			for _, key := range t.KMSKeys {
				probeKMSKey(ctx, dst, t.Bucket, key, add)
			}
		}
	}
	return fs, ctx.Err()
}

func checkBucket(ctx context.Context, c PreflightSource, role, bucket, endpoint string, add func(bool, string, ...any)) bool {
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, fewRetries)
	if err == nil {
		return true
	}
	code, status, _ := s3err.Classify(err)
	switch {
	case status == 404:
		add(true, "%s bucket %q does not exist (check the bucket name and the endpoint)", role, bucket)
	case status == 403:
		add(true, "%s bucket %q: access denied with these credentials (HeadBucket 403); check the profile and the bucket policy", role, bucket)
	case status == 301 || code == "PermanentRedirect":
		add(true, "%s bucket %q is in another region; give --region", role, bucket)
	case status == 400 && strings.HasPrefix(endpoint, "http://"):
		// What a TLS port answers to plain http.
		add(true, "%s bucket %q: the endpoint %s answered 400 Bad Request to plain http; is it an https endpoint? try %s",
			role, bucket, endpoint, "https://"+strings.TrimPrefix(endpoint, "http://"))
	default:
		add(true, "%s bucket %q cannot be reached: %v", role, bucket, err)
	}
	return false
}

func checkVersioning(ctx context.Context, c PreflightSource, role, bucket string, add func(bool, string, ...any), consequence string) {
	out, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)}, fewRetries)
	if err != nil {
		code, _, _ := s3err.Classify(err)
		add(false, "cannot read the versioning of %s bucket %q (%s)", role, bucket, code)
		return
	}
	if out.Status != types.BucketVersioningStatusEnabled {
		state := "never enabled"
		if out.Status != "" {
			state = string(out.Status)
		}
		add(false, "versioning of %s bucket %q is %s: %s", role, bucket, state, consequence)
	}
}

func checkSSECAllowed(ctx context.Context, c PreflightDest, bucket string, add func(bool, string, ...any)) {
	out, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)}, fewRetries)
	if err != nil {
		// No default encryption configured is the usual answer here.
		if code, _, _ := s3err.Classify(err); code != "ServerSideEncryptionConfigurationNotFoundError" {
			add(false, "cannot read the encryption settings of destination bucket %q (%s): whether it blocks SSE-C writes is unknown", bucket, code)
		}
		return
	}
	if out.ServerSideEncryptionConfiguration == nil {
		return
	}
	for _, r := range out.ServerSideEncryptionConfiguration.Rules {
		if r.BlockedEncryptionTypes != nil && slices.Contains(r.BlockedEncryptionTypes.EncryptionType, types.EncryptionTypeSseC) {
			add(true, "destination bucket %q blocks SSE-C writes (BlockedEncryptionTypes): every SSE-C replica would be refused; "+
				"unblock SSE-C on it (put-bucket-encryption) or leave SSE-C versions out (--encryption)", bucket)
			return
		}
	}
}

// probeKMSKey writes and deletes a zero-byte object encrypted with key.
// S3 accepts a replication rule naming a KMS key it cannot use and fails
// every copy later; this finds out first.
func probeKMSKey(ctx context.Context, c PreflightDest, bucket, key string, add func(bool, string, ...any)) {
	name := make([]byte, 8)
	_, _ = rand.Read(name)
	probe := ProbePrefix + hex.EncodeToString(name)
	out, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(probe), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(key),
	})
	if err != nil {
		code, _, _ := s3err.Classify(err)
		var msg string
		var api interface{ ErrorMessage() string }
		if errors.As(err, &api) {
			msg = ": " + api.ErrorMessage()
		}
		add(true, "replica KMS key %q cannot be used in destination bucket %q (%s%s); check the key id and the key policy, "+
			"or rerun with --no-kms-probe to skip this check", key, bucket, code, msg)
		return
	}
	del := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(probe)}
	if v := aws.ToString(out.VersionId); v != "" {
		del.VersionId = aws.String(v) // remove the probe for good, not behind a delete marker
	}
	if _, err := c.DeleteObject(context.WithoutCancel(ctx), del); err != nil {
		code, _, _ := s3err.Classify(err)
		add(false, "the KMS probe object s3://%s/%s could not be deleted (%s); delete it by hand", bucket, probe, code)
	}
}
