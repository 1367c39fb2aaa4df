package inventory

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/planner"
)

// Header is the one S3 call Inspect makes.
type Header interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

var _ Header = (*s3.Client)(nil)

// Inspection is what a HEAD of one version tells.
type Inspection struct {
	Encryption planner.Encryption
	KMSKeyID   string
	// SSECKeyID is the id of the key that opened an SSE-C version; empty
	// when Encryption is SSE-C and no candidate did.
	SSECKeyID string
	Size      int64
	ETag      string
	HeadCalls int // requests made, including failed key trials
}

// Inspect HEADs one version. Without a key S3 answers 400 for an SSE-C
// version; then each candidate key is tried in order (403 means wrong key)
// until one opens it. An SSE-C version that no candidate opens is not an
// error: the planner records it failed with a code that says so. Other
// errors (the version is gone, access denied, throttling) are returned.
func Inspect(ctx context.Context, c Header, bucket, key, versionID string, candidates []*planner.Key) (Inspection, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)}
	out, err := c.HeadObject(ctx, in)
	ins := Inspection{HeadCalls: 1}
	if err == nil {
		ins.Encryption = planner.EncryptionOf(string(out.ServerSideEncryption), aws.ToString(out.SSECustomerAlgorithm))
		ins.KMSKeyID = aws.ToString(out.SSEKMSKeyId)
		ins.Size = aws.ToInt64(out.ContentLength)
		ins.ETag = aws.ToString(out.ETag)
		return ins, nil
	}
	if httpStatus(err) != 400 {
		return ins, fmt.Errorf("head %s@%s: %w", key, versionID, err)
	}
	ins.Encryption = planner.SSEC
	for _, k := range candidates {
		tin := *in
		tin.SSECustomerAlgorithm = aws.String("AES256")
		tin.SSECustomerKey = aws.String(k.Base64())
		tin.SSECustomerKeyMD5 = aws.String(k.MD5())
		out, err := c.HeadObject(ctx, &tin)
		ins.HeadCalls++
		switch {
		case err == nil:
			ins.SSECKeyID = k.ID
			ins.Size = aws.ToInt64(out.ContentLength)
			ins.ETag = aws.ToString(out.ETag)
			return ins, nil
		case httpStatus(err) == 403:
			continue // wrong key
		default:
			return ins, fmt.Errorf("head %s@%s with key %s: %w", key, versionID, k.ID, err)
		}
	}
	return ins, nil
}

// httpStatus is the HTTP status of a failed S3 call, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
