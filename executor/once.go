package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/planner"
)

// A replica is made once per version. The requests that make a replica
// version — CopyObject, CompleteMultipartUpload, a streamed PutObject, the
// DELETE that replays a delete marker — are not idempotent: sent twice,
// they make two replica versions. So the SDK's retryer may re-send them
// only when the server certainly did not act on the first attempt (the
// connection was never made, or S3 throttled it). When an attempt's answer
// is lost after it was sent (a timeout, a reset, a 5xx), the executor
// lists the replica key and adopts a version made since the attempt began
// that matches the source version; only when none is there is the request
// sent again. Reads and idempotent calls (HEAD, GET, listings, a part copy,
// an abort) keep the SDK's retries.

// writeAttempts is how many times a write that makes a replica is sent at
// most, when each answer is lost and no replica is found after it; between
// attempts the executor waits writeBackoff, doubling.
const (
	writeAttempts = 4
	writeBackoff  = time.Second
)

// once is the option of every request that makes a replica version: the
// SDK re-sends it only when the server did not act on it.
func once(o *s3.Options) {
	switch r := o.Retryer.(type) {
	case nil:
	case aws.RetryerV2:
		o.Retryer = onceRetryer{r}
	default:
		o.Retryer = onceRetryer{retryerV2{r}}
	}
}

// retryerV2 gives a retryer of the first interface the second one's
// attempt token.
type retryerV2 struct{ aws.Retryer }

func (r retryerV2) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}

// onceRetryer is the client's retryer, retrying only what was not done.
type onceRetryer struct{ aws.RetryerV2 }

func (r onceRetryer) IsErrorRetryable(err error) bool {
	return (notSent(err) || throttled(err)) && r.RetryerV2.IsErrorRetryable(err)
}

// notSent: the connection to the server was never made, so the request
// cannot have been acted on.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// throttled: S3 refused the request before acting on it (503 SlowDown,
// 429 and the other throttling answers).
func throttled(err error) bool {
	code, status, _ := s3err.Classify(err)
	if status == 429 {
		return true
	}
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// answerLost reports whether err leaves open whether a write was acted on:
// it was sent, and no answer says it was refused (a 4xx) or not done.
func answerLost(err error) bool {
	if err == nil || notSent(err) || throttled(err) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true // cancelled in flight: it may have been done
	}
	_, _, class := s3err.Classify(err)
	return class == s3err.Retryable // a reset, a timeout, a 5xx
}

// errInDoubt: a write's answer was lost and the replica key could not be
// listed to find out whether it was done; the task stays in doubt for the
// next run to reconcile.
type errInDoubt struct{ err, listErr error }

func (e errInDoubt) Error() string {
	return fmt.Sprintf("the answer was lost (%v) and the destination could not be checked (%v)", e.err, e.listErr)
}
func (e errInDoubt) Unwrap() error { return e.err }

// makeReplica sends a write that makes one replica version of t, once:
// when its answer is lost, the replica key is listed for a version made
// since the attempt began that is t's replica (known are the replica
// versions of the key already accounted for), and that one is adopted;
// only when none is there is the write sent again.
func (e *Executor) makeReplica(ctx context.Context, t planner.Task, known []string, send func(context.Context) (copyResult, error)) (copyResult, error) {
	backoff := e.cfg.WriteBackoff
	if backoff <= 0 {
		backoff = writeBackoff
	}
	for attempt := 1; ; attempt++ {
		began := time.Now()
		res, err := send(ctx)
		if err == nil || !answerLost(err) {
			return res, err
		}
		found, ok, lerr := e.findReplica(context.WithoutCancel(ctx), t, known, began)
		switch {
		case lerr != nil:
			return copyResult{}, errInDoubt{err, lerr}
		case ok:
			e.log.Debug("a write's answer was lost; its replica is on the destination", "key", t.Key, "version", t.VersionID,
				"replica", found.versionID, "err", err)
			found.lostAnswer = true
			return found, nil
		case attempt == writeAttempts || ctx.Err() != nil:
			return copyResult{}, err
		}
		e.log.Debug("a write's answer was lost and no replica was made; sending it again", "key", t.Key, "version", t.VersionID, "err", err)
		select {
		case <-ctx.Done():
			return copyResult{}, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// findReplica lists t's replica key and returns the newest version not in
// known, made since began (less the clock skew allowed), when it is t's
// replica.
func (e *Executor) findReplica(ctx context.Context, t planner.Task, known []string, began time.Time) (copyResult, bool, error) {
	dests, err := e.listDestVersions(ctx, t.Dest, t.DestKey)
	if err != nil {
		return copyResult{}, false, err
	}
	for _, d := range dests { // newest first
		if slices.Contains(known, d.id) {
			return copyResult{}, false, nil
		}
		if replicaOf(t, d, began) {
			return copyResult{versionID: d.id, etag: d.etag}, true, nil
		}
		return copyResult{}, false, nil
	}
	return copyResult{}, false, nil
}
