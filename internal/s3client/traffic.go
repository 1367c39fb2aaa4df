package s3client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Traffic is what every S3 request of a run passes through: one cap on
// requests in flight over all workers and parts, an optional cap on the
// request rate, and the counts the progress display and status show. The
// SDK's adaptive retryer slows down on its own when S3 throttles.
type Traffic struct {
	inFlight chan struct{}
	limiter  *rate.Limiter // nil: no rate cap

	requests  atomic.Int64 // attempts sent
	throttled atomic.Int64 // attempts answered 503 SlowDown, 429 or another throttling error
	byOp      sync.Map     // operation name → *atomic.Int64: attempts sent

	mu     sync.Mutex
	window []sample // recent (time, requests) readings, oldest first
	rate   float64
}

type sample struct {
	at time.Time
	n  int64
}

// rateWindow is how far back the request rate is measured.
const rateWindow = 5 * time.Second

// Rate is the request rate over the last few seconds. It is measured
// between calls: the first call, or calls less than a second apart, give
// the last rate measured.
func (t *Traffic) Rate() float64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if n := len(t.window); n == 0 || now.Sub(t.window[n-1].at) >= time.Second {
		t.window = append(t.window, sample{now, t.requests.Load()})
	}
	for len(t.window) > 2 && now.Sub(t.window[1].at) > rateWindow {
		t.window = t.window[1:]
	}
	if len(t.window) > 1 {
		first, last := t.window[0], t.window[len(t.window)-1]
		t.rate = float64(last.n-first.n) / last.at.Sub(first.at).Seconds()
	}
	return t.rate
}

func newTraffic(maxInFlight int, maxPerSecond float64) *Traffic {
	t := &Traffic{inFlight: make(chan struct{}, maxInFlight)}
	if maxPerSecond > 0 {
		// A burst of one second's worth lets the workers start together.
		t.limiter = rate.NewLimiter(rate.Limit(maxPerSecond), max(1, int(maxPerSecond)))
	}
	return t
}

// isThrottle is the SDK's own idea of a throttling answer.
var isThrottle = retry.IsErrorThrottles(retry.DefaultThrottles)

// apiOption adds the traffic middleware to a client's stack, after the
// retryer: it sees (and counts, limits) each attempt.
func (t *Traffic) apiOption(stack *middleware.Stack) error {
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("s3backfill/traffic",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error) {
			if t.limiter != nil {
				if err := t.limiter.Wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
			}
			select {
			case t.inFlight <- struct{}{}:
			case <-ctx.Done():
				return middleware.FinalizeOutput{}, middleware.Metadata{}, ctx.Err()
			}
			t.requests.Add(1)
			t.count(middleware.GetOperationName(ctx))
			out, md, err := next.HandleFinalize(ctx, in)
			<-t.inFlight
			if err != nil && !errors.Is(err, context.Canceled) && isThrottle.IsErrorThrottle(err).Bool() {
				t.throttled.Add(1)
			}
			return out, md, err
		}), "Retry", middleware.After)
}

func (t *Traffic) count(op string) {
	n, ok := t.byOp.Load(op)
	if !ok {
		n, _ = t.byOp.LoadOrStore(op, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
}

// ByOperation is the attempts sent so far by S3 operation (CopyObject,
// HeadObject, …).
func (t *Traffic) ByOperation() map[string]int64 {
	out := map[string]int64{}
	if t == nil {
		return out
	}
	t.byOp.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Stats are the counts so far: attempts sent, and those S3 throttled.
func (t *Traffic) Stats() (requests, throttled int64) {
	if t == nil {
		return 0, 0
	}
	return t.requests.Load(), t.throttled.Load()
}
