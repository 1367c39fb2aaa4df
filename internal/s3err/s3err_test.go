package s3err

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3backfill/s3backfill/internal/s3fake"
)

// respErr is an error shaped as the SDK returns an HTTP error response:
// an operation error around a response error around the API error.
func respErr(status int, cause error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "CopyObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: cause},
		RequestID:     "req-1",
	}}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func className(c Class) string {
	return map[Class]string{Permanent: "Permanent", Retryable: "Retryable", Fatal: "Fatal"}[c]
}

func TestClassify(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name   string
		err    error
		code   string
		status int
		class  Class
	}{
		{"nil", nil, "", 0, Permanent},
		{"access denied", respErr(403, apiErr("AccessDenied")), "AccessDenied", 403, Permanent},
		{"no such key", respErr(404, apiErr("NoSuchKey")), "NoSuchKey", 404, Permanent},
		{"no such version", respErr(404, apiErr("NoSuchVersion")), "NoSuchVersion", 404, Permanent},
		{"archived", respErr(403, apiErr("InvalidObjectState")), "InvalidObjectState", 403, Permanent},
		{"KMS key", respErr(400, apiErr("KMS.NotFoundException")), "KMS.NotFoundException", 400, Permanent},
		{"bad SSE-C key", respErr(400, apiErr("InvalidArgument")), "InvalidArgument", 400, Permanent},
		{"bad access key", respErr(403, apiErr("InvalidAccessKeyId")), "InvalidAccessKeyId", 403, Fatal},
		{"signature", respErr(403, apiErr("SignatureDoesNotMatch")), "SignatureDoesNotMatch", 403, Fatal},
		{"expired token", respErr(400, apiErr("ExpiredToken")), "ExpiredToken", 400, Fatal},
		{"invalid token", respErr(400, apiErr("InvalidToken")), "InvalidToken", 400, Fatal},
		{"no such bucket", respErr(404, apiErr("NoSuchBucket")), "NoSuchBucket", 404, Fatal},
		{"account", respErr(403, apiErr("AccountProblem")), "AccountProblem", 403, Fatal},
		{"slow down", respErr(503, apiErr("SlowDown")), "SlowDown", 503, Retryable},
		{"internal", respErr(500, apiErr("InternalError")), "InternalError", 500, Retryable},
		{"request timeout", respErr(400, apiErr("RequestTimeout")), "RequestTimeout", 400, Retryable},
		{"429 no body", respErr(429, errors.New("empty body")), "TooManyRequests", 429, Retryable},
		{"403 without code (HEAD)", respErr(403, errors.New("no body")), "Forbidden", 403, Permanent},
		{"404 without code (HEAD)", respErr(404, errors.New("no body")), "NotFound", 404, Permanent},
		{"502 without code", respErr(502, errors.New("proxy")), "BadGateway", 502, Retryable},
		{"not implemented (RGW: copy of an encrypted source)", respErr(501, apiErr("NotImplemented")), "NotImplemented", 501, Permanent},
		{"500 without code", respErr(500, errors.New("no body")), "InternalServerError", 500, Retryable},
		{"499 without code", respErr(499, errors.New("odd")), "", 499, Permanent},
		{"API error without response", apiErr("InternalError"), "InternalError", 0, Retryable},
		{"wrapped", fmt.Errorf("copy k@v: %w", respErr(403, apiErr("AccessDenied"))), "AccessDenied", 403, Permanent},
		{"canceled", context.Canceled, "Canceled", 0, Fatal},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "Canceled", 0, Fatal},
		{"canceled in SDK", &smithy.OperationError{ServiceID: "S3", OperationName: "CopyObject",
			Err: &smithy.CanceledError{Err: context.Canceled}}, "Canceled", 0, Fatal},
		{"connection refused", &smithy.OperationError{ServiceID: "S3", OperationName: "CopyObject",
			Err: &smithyhttp.RequestSendError{Err: netErr}}, "NetworkError", 0, Retryable},
		{"plain net error", netErr, "NetworkError", 0, Retryable},
		{"unexpected EOF", io.ErrUnexpectedEOF, "NetworkError", 0, Retryable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, status, class := Classify(tc.err)
			if code != tc.code || status != tc.status || class != tc.class {
				t.Errorf("Classify(%v) = %q, %d, %s; want %q, %d, %s",
					tc.err, code, status, className(class), tc.code, tc.status, className(tc.class))
			}
		})
	}
}

// TestClassifyWire checks Classify on errors made by the real SDK from
// real responses, HEAD (no body) included.
func TestClassifyWire(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true)
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "HeadObject" {
			return &s3fake.Reply{Status: http.StatusBadRequest}
		}
		return s3fake.Error(http.StatusServiceUnavailable, "SlowDown")
	})
	c := f.Client("me")
	ctx := context.Background()
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if code, status, class := Classify(err); code != "BadRequest" || status != 400 || class != Permanent {
		t.Errorf("HEAD 400: %q %d %s (%v)", code, status, className(class), err)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if code, status, class := Classify(err); code != "SlowDown" || status != 503 || class != Retryable {
		t.Errorf("503 SlowDown: %q %d %s (%v)", code, status, className(class), err)
	}
	// Without the hook: the fake's own answers.
	f.SetHook(nil)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if code, status, class := Classify(err); code != "NotFound" || status != 404 || class != Permanent {
		t.Errorf("HEAD of no key: %q %d %s (%v)", code, status, className(class), err)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("nope"), Key: aws.String("k")})
	if code, status, class := Classify(err); code != "NoSuchBucket" || status != 404 || class != Fatal {
		t.Errorf("no bucket: %q %d %s (%v)", code, status, className(class), err)
	}
}
