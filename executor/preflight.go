package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/checksum"
	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/planner"
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
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
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
	// Probe: write, read back and delete a zero-byte object with each
	// replica KMS key and, where SSE-C replicas may be written, with SSE-C:
	// the only way to know before copying that a key can be used and that
	// the endpoint applies the encryption.
	Probe bool
}

// PreflightTarget is one destination bucket of the job.
type PreflightTarget struct {
	Bucket  string
	KMSKeys []string // replica KMS key ids the rules name for it
	SSEC    bool     // SSE-C replicas may be written there
	SSES3   bool     // SSE-S3 replicas are to be written there
}

// Finding is one thing the checks found.
type Finding struct {
	Error   bool // would make copies fail; otherwise a warning
	Message string
}

// findings collects what the checks find.
type findings []Finding

func (fs *findings) add(isErr bool, format string, a ...any) {
	*fs = append(*fs, Finding{Error: isErr, Message: fmt.Sprintf(format, a...)})
}

// fewRetries: a check answers a question about the setup; a wrong endpoint
// should say so in seconds, not after the full retry budget of a copy.
func fewRetries(o *s3.Options) { o.RetryMaxAttempts = 2 }

// ProbePrefix is where the probes write; they remove what they write.
const ProbePrefix = ".s3backfill-probe/"

// RunPreflight checks, before the first copy, what would make every copy
// fail: buckets that are missing or unreachable with these credentials,
// versioning (history cannot be kept without it), replica KMS keys that
// cannot be used, and destinations that block SSE-C. It returns every
// finding; the error is non-nil only when ctx ends.
func RunPreflight(ctx context.Context, src PreflightSource, dst PreflightDest, p Preflight) ([]Finding, error) {
	var fs findings
	add := fs.add
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
		if p.Probe {
			for _, key := range t.KMSKeys {
				probeEncryption(ctx, dst, t.Bucket, ProbeEncryption{Kind: planner.SSEKMS, KMSKey: key}, add)
			}
			if t.SSEC {
				probeEncryption(ctx, dst, t.Bucket, ProbeEncryption{Kind: planner.SSEC}, add)
			}
			if t.SSES3 {
				probeEncryption(ctx, dst, t.Bucket, ProbeEncryption{Kind: planner.SSES3}, add)
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

// ProbeEncryption is an encryption a probe object is written with: SSE-S3,
// SSE-KMS under a key, or SSE-C (under a key made for the probe, never one
// of the key file's).
type ProbeEncryption struct {
	Kind   planner.Encryption // SSES3, SSEKMS or SSEC
	KMSKey string
}

func (e ProbeEncryption) String() string {
	if e.Kind == planner.SSEKMS {
		return fmt.Sprintf("SSE-KMS under key %q", e.KMSKey)
	}
	return string(e.Kind)
}

// Probe writes, reads back and deletes a probe object with encryption e
// in bucket, as the checks do, and returns what it found.
func Probe(ctx context.Context, dst PreflightDest, bucket string, e ProbeEncryption) []Finding {
	var fs findings
	probeEncryption(ctx, dst, bucket, e, fs.add)
	return fs
}

// probeEncryption writes a zero-byte object with encryption e, reads it
// back and deletes it. S3 accepts a replication rule naming a KMS key it
// cannot use and fails every copy later; an endpoint may accept an
// encryption and store the object without it (Ceph RGW before Reef does so
// with SSE-S3). Either way, this finds out before copying.
func probeEncryption(ctx context.Context, c PreflightDest, bucket string, e ProbeEncryption, add func(bool, string, ...any)) {
	name := make([]byte, 8)
	_, _ = rand.Read(name)
	probe := ProbePrefix + hex.EncodeToString(name)
	put := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(probe), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)}
	head := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(probe)}
	switch e.Kind {
	case planner.SSES3:
		put.ServerSideEncryption = types.ServerSideEncryptionAes256
	case planner.SSEKMS:
		put.ServerSideEncryption, put.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(e.KMSKey)
	case planner.SSEC:
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		alg, k, m := aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(key)), aws.String(checksum.MD5(key))
		put.SSECustomerAlgorithm, put.SSECustomerKey, put.SSECustomerKeyMD5 = alg, k, m
		head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = alg, k, m
	}
	out, err := c.PutObject(ctx, put, fewRetries)
	if err != nil {
		code, _, _ := s3err.Classify(err)
		var msg string
		var api interface{ ErrorMessage() string }
		if errors.As(err, &api) {
			msg = ": " + api.ErrorMessage()
		}
		if e.Kind == planner.SSEKMS {
			add(true, "replica KMS key %q cannot be used in destination bucket %q (%s%s); check the key id and the key policy, "+
				"or rerun with --no-probe to skip this check", e.KMSKey, bucket, code, msg)
		} else {
			add(true, "destination bucket %q refuses a probe object written with %s (%s%s), as it would refuse every %s replica; "+
				"rerun with --no-probe to skip this check", bucket, e, code, msg, e.Kind)
		}
		return
	}
	version := aws.ToString(out.VersionId)
	if version != "" {
		head.VersionId = aws.String(version)
	}
	if h, err := c.HeadObject(ctx, head, fewRetries); err != nil {
		code, _, _ := s3err.Classify(err)
		add(false, "the probe object s3://%s/%s written with %s could not be read back (%s): whether the endpoint applies it is unknown",
			bucket, probe, e, code)
	} else if stored := probeStored(h); !probeApplied(e, h) {
		add(true, "destination bucket %q accepted a probe object written with %s but stored it %s: this endpoint ignores that encryption, "+
			"so replicas would not be encrypted as their sources are; leave those versions out (--encryption) or copy to an endpoint that "+
			"implements it", bucket, e, stored)
	}
	del := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(probe)}
	if version != "" {
		del.VersionId = aws.String(version) // remove the probe for good, not behind a delete marker
	}
	if _, err := c.DeleteObject(context.WithoutCancel(ctx), del); err != nil {
		code, _, _ := s3err.Classify(err)
		add(false, "the probe object s3://%s/%s could not be deleted (%s); delete it by hand", bucket, probe, code)
	}
}

// probeApplied reports whether a probe object was stored with encryption
// e, as its HEAD says.
func probeApplied(e ProbeEncryption, h *s3.HeadObjectOutput) bool {
	switch e.Kind {
	case planner.SSES3:
		return h.ServerSideEncryption == types.ServerSideEncryptionAes256
	case planner.SSEKMS:
		// The key is named as the server likes (AWS answers the ARN of
		// an alias): the class is what can be compared.
		return h.ServerSideEncryption == types.ServerSideEncryptionAwsKms
	case planner.SSEC:
		return aws.ToString(h.SSECustomerAlgorithm) == "AES256"
	}
	return true
}

// probeStored says how a probe object was stored, as its HEAD says.
func probeStored(h *s3.HeadObjectOutput) string {
	switch {
	case aws.ToString(h.SSECustomerAlgorithm) != "":
		return "with SSE-C"
	case h.ServerSideEncryption == types.ServerSideEncryptionAwsKms:
		return fmt.Sprintf("with SSE-KMS under key %q", aws.ToString(h.SSEKMSKeyId))
	case h.ServerSideEncryption != "":
		return "with " + string(h.ServerSideEncryption)
	}
	return "unencrypted"
}
