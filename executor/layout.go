package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// maxParts is S3's limit on parts per upload.
const maxParts = 10000

// PartCount is how many parts a copy of size bytes cut at partSize takes
// (for estimates: the copy cuts it so).
func PartCount(size, partSize int64) int {
	n, _ := partLayout(size, partSize)
	return n
}

// partLayout splits size into parts of partSize, growing the part size
// when the object would need more than maxParts parts.
func partLayout(size, partSize int64) (n int, ps int64) {
	ps = partSize
	for (size+ps-1)/ps > maxParts {
		ps *= 2
	}
	n = int((size + ps - 1) / ps)
	if n == 0 {
		n = 1
	}
	return n, ps
}

// layout is how a multipart replica is cut into parts.
type layout struct {
	sizes []int64 // part i+1 has sizes[i] bytes
	how   string  // for the report: "source's 4 parts" or "16MiB parts"
}

// offset is where part i (0-based) starts.
func (l layout) offset(i int) int64 {
	var off int64
	for _, s := range l.sizes[:i] {
		off += s
	}
	return off
}

// layoutOf decides a replica's parts. A multipart source is replayed part
// for part (HEAD with partNumber gives each part's size), so that a
// plaintext or SSE-S3 replica gets the very multipart ETag of its source;
// anything else, or everything with CutAtPartSize, is cut in parts of the
// configured size.
func (e *Executor) layoutOf(ctx context.Context, t planner.Task, k sse.Keys) layout {
	if planner.MultipartParts(t.ETag) > 1 && !e.cfg.CutAtPartSize {
		if sizes, err := e.sourceParts(ctx, t, k); err == nil && len(sizes) > 1 {
			return layout{sizes: sizes, how: fmt.Sprintf("source's %d parts", len(sizes))}
		} else if err != nil {
			e.log.Debug("cannot read the source's part layout; using the part size", "key", t.Key, "version", t.VersionID, "err", err)
		}
	}
	n, ps := partLayout(t.Size, e.cfg.PartSize)
	l := layout{how: fmt.Sprintf("%s parts", sizeName(ps))}
	for i := range n {
		l.sizes = append(l.sizes, min(ps, t.Size-int64(i)*ps))
	}
	return l
}

// sourceParts reads the sizes of a multipart source's parts. They must add
// up to the object's size, or the layout is not used.
func (e *Executor) sourceParts(ctx context.Context, t planner.Task, k sse.Keys) ([]int64, error) {
	head := func(ctx context.Context, n int32) (*s3.HeadObjectOutput, error) {
		in := &s3.HeadObjectInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key),
			VersionId: aws.String(t.VersionID), PartNumber: aws.Int32(n)}
		k.ApplyHeadSource(in)
		return e.src.HeadObject(ctx, in)
	}
	first, err := head(ctx, 1)
	if err != nil {
		return nil, err
	}
	n := int(aws.ToInt32(first.PartsCount))
	if n <= 1 || n > maxParts {
		return nil, nil
	}
	sizes := make([]int64, n)
	sizes[0] = aws.ToInt64(first.ContentLength)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.PartWorkers)
	for i := 2; i <= n; i++ {
		g.Go(func() error {
			out, err := head(gctx, int32(i))
			if err != nil {
				return err
			}
			sizes[i-1] = aws.ToInt64(out.ContentLength)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var sum int64
	for _, s := range sizes {
		sum += s
	}
	if sum != t.Size {
		return nil, fmt.Errorf("parts add up to %d bytes, the object has %d", sum, t.Size)
	}
	return sizes, nil
}

// partWorkersFor scales the parts of one object in flight to their size:
// replaying a source cut in 5 MiB parts with the concurrency meant for
// 16 MiB parts would move a third of the bytes at a time. The bytes in
// flight stay those of --part-workers parts of --part-size, with at most
// four times as many parts.
func (e *Executor) partWorkersFor(l layout) int {
	var total int64
	for _, s := range l.sizes {
		total += s
	}
	avg := total / int64(len(l.sizes))
	if avg <= 0 {
		return e.cfg.PartWorkers
	}
	n := int(int64(e.cfg.PartWorkers) * e.cfg.PartSize / avg)
	return min(max(n, e.cfg.PartWorkers), 4*e.cfg.PartWorkers)
}

// fingerprint names what an upload was made for: the source version, the
// replica's key, encryption and class, and the layout. An upload recorded
// with another fingerprint (the plan changed) cannot be continued.
func fingerprint(t planner.Task, l layout, stream bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%v\x00%v\x00%v",
		t.Key, t.VersionID, t.ETag, t.Size, t.Dest, t.DestKey, t.ReplicaEncryption, t.ReplicaKMSKeyID,
		t.ReplicaSSECKeyID, t.ReplicaClass(), t.ReplicaBucketKey, stream, l.sizes)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// sizeName prints a part size.
func sizeName(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	default:
		return fmt.Sprintf("%d-byte", n)
	}
}
