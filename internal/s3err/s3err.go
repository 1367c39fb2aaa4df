// Package s3err classifies the errors of S3 calls, once, for every package
// that makes them: the error code and HTTP status S3 answered, and what the
// error means for a run (this version failed for good, the SDK's retries ran
// out on something transient, or nothing else will work either). It makes
// no requests and retries nothing.
package s3err

import (
	"context"
	"errors"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Class says what an error means for the run.
type Class int

const (
	// Permanent: this version failed; rerunning will not help until
	// something changes (a key, a permission, the object itself).
	Permanent Class = iota
	// Retryable: the SDK's retries ran out on a transient error; the
	// version is recorded failed and the next run tries it again.
	Retryable
	// Fatal: nothing else will work either (credentials, a missing bucket,
	// cancellation); stop the run, keeping the checkpoint consistent.
	Fatal
)

// fatalCodes fail every request of the run, not just one version.
var fatalCodes = map[string]bool{
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"ExpiredToken":          true,
	"InvalidToken":          true,
	"NoSuchBucket":          true,
	"AccountProblem":        true,
}

// stopRun marks an error that must stop the run whatever it wraps: a
// checkpoint write that failed.
type stopRun struct{ error }

func (e stopRun) Unwrap() error { return e.error }

// StopRun marks err as fatal for the run whatever it wraps (a checkpoint
// write that failed, say); nil stays nil.
func StopRun(err error) error {
	if err == nil {
		return nil
	}
	return stopRun{err}
}

// StopsRun reports whether err was marked by StopRun.
func StopsRun(err error) bool {
	var s stopRun
	return errors.As(err, &s)
}

// Classify returns the S3 error code (or a stand-in), the HTTP status and
// the class of err.
func Classify(err error) (code string, status int, class Class) {
	if err == nil {
		return "", 0, Permanent
	}
	if StopsRun(err) {
		return "CheckpointWriteFailed", 0, Fatal
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "Canceled", 0, Fatal
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if code == "" && status != 0 {
		code = strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	switch {
	case fatalCodes[code]:
		return code, status, Fatal
	case status == 501, code == "NotImplemented":
		// The endpoint lacks the feature: asking again will not help.
		return code, status, Permanent
	case status >= 500, status == 429, code == "SlowDown", code == "RequestTimeout", code == "InternalError":
		return code, status, Retryable
	case status == 0 && code == "":
		// No response at all: connection reset, timeout, DNS.
		return "NetworkError", 0, Retryable
	default:
		return code, status, Permanent
	}
}

// Status is the HTTP status of a failed S3 call, or 0 when there was no
// answer.
func Status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
