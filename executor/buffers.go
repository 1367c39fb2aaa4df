package executor

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// partBuffers bounds the memory streamed copies hold: parts are read into
// memory whole (S3 wants a part's length before its body), and at most
// budget bytes of them exist at once. Buffers of the usual part size are
// reused, so the heap does not churn through a new one per part.
type partBuffers struct {
	budget   int64
	sem      *semaphore.Weighted
	partSize int64
	free     chan []byte
}

func newPartBuffers(partSize int64, parts int) *partBuffers {
	return &partBuffers{
		budget:   partSize * int64(parts),
		sem:      semaphore.NewWeighted(partSize * int64(parts)),
		partSize: partSize,
		free:     make(chan []byte, parts),
	}
}

// get waits until size bytes fit in the budget (a part larger than the
// whole budget waits for all of it) and returns a buffer of that length.
func (p *partBuffers) get(ctx context.Context, size int64) ([]byte, error) {
	if err := p.sem.Acquire(ctx, min(size, p.budget)); err != nil {
		return nil, err
	}
	if size == p.partSize {
		select {
		case b := <-p.free:
			return b[:size], nil
		default:
		}
	}
	return make([]byte, size), nil
}

// put gives a buffer back.
func (p *partBuffers) put(b []byte) {
	size := int64(len(b))
	if int64(cap(b)) == p.partSize {
		select {
		case p.free <- b[:cap(b)]:
		default:
		}
	}
	p.sem.Release(min(size, p.budget))
}
