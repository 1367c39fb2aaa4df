package main

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// traffic is what every S3 request of a run passes through: one cap on
// requests in flight over all workers and parts, an optional cap on the
// request rate, and the counts the progress display and status show. The
// SDK's adaptive retryer slows down on its own when S3 throttles.
type traffic struct {
	inFlight chan struct{}
	limiter  *rate.Limiter // nil: no rate cap

	requests  atomic.Int64 // attempts sent
	throttled atomic.Int64 // attempts answered 503 SlowDown, 429 or another throttling error
	rateBits  atomic.Uint64
}

// rateWindow is how far back the request rate is measured.
const rateWindow = 5 * time.Second

// sample measures the request rate every second until ctx ends.
func (t *traffic) sample(ctx context.Context) {
	type point struct {
		at time.Time
		n  int64
	}
	var window []point
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			window = append(window, point{now, t.requests.Load()})
			for len(window) > 1 && now.Sub(window[0].at) > rateWindow {
				window = window[1:]
			}
			if len(window) > 1 {
				first, last := window[0], window[len(window)-1]
				t.rateBits.Store(math.Float64bits(float64(last.n-first.n) / last.at.Sub(first.at).Seconds()))
			}
		}
	}
}

// rate is the request rate over the last few seconds.
func (t *traffic) rate() float64 {
	if t == nil {
		return 0
	}
	return math.Float64frombits(t.rateBits.Load())
}

func newTraffic(maxInFlight int, maxPerSecond float64) *traffic {
	t := &traffic{inFlight: make(chan struct{}, maxInFlight)}
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
func (t *traffic) apiOption(stack *middleware.Stack) error {
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
			out, md, err := next.HandleFinalize(ctx, in)
			<-t.inFlight
			if err != nil && !errors.Is(err, context.Canceled) && isThrottle.IsErrorThrottle(err).Bool() {
				t.throttled.Add(1)
			}
			return out, md, err
		}), "Retry", middleware.After)
}

// stats are the counts so far.
func (t *traffic) stats() (requests, throttled int64) {
	if t == nil {
		return 0, 0
	}
	return t.requests.Load(), t.throttled.Load()
}
