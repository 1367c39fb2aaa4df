package executor

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
)

// TestClassifyWire checks Classify on errors made by the real SDK from
// real responses, HEAD (no body) included.
func TestClassifyWire(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(func(r request) *reply {
		if r.Op == "HeadObject" {
			return &reply{status: http.StatusBadRequest}
		}
		return s3Error(http.StatusServiceUnavailable, "SlowDown")
	})
	c := f.client(dstAccessKey)
	ctx := context.Background()
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srcBucket), Key: aws.String("k")})
	if code, status, class := s3err.Classify(err); code != "BadRequest" || status != 400 || class != s3err.Permanent {
		t.Errorf("HEAD 400: %q %d %d (%v)", code, status, class, err)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(srcBucket), Key: aws.String("k")})
	if code, status, class := s3err.Classify(err); code != "SlowDown" || status != 503 || class != s3err.Retryable {
		t.Errorf("503 SlowDown: %q %d %d (%v)", code, status, class, err)
	}
}
