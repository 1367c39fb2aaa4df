// Command ceiling is the benchmark's upper bound: it makes the S3 calls a
// backfill cannot avoid, as fast as the server answers them, and nothing
// else — no checkpoint, no HEAD before or after a copy, no report.
//
// It lists the source's versions first (timed on its own), then W
// goroutines take keys and copy each key's versions oldest first, as a
// replica's history needs:
//
//   - CopyObject with ?versionId= up to -multipart-threshold;
//   - above it CreateMultipartUpload, UploadPartCopy (-part-workers parts of
//     -part-size at a time per object) and CompleteMultipartUpload;
//   - with -source-server and -dest-server different, GET from one server
//     and an upload-manager PUT to the other (a streamed copy).
//
// With -keys (s3backfill's key file), every copy carries the SSE-C
// copy-source and replica headers. With several keys the right one is
// found by trying them in file order on the copy itself (403 = wrong key),
// which is the fewest requests correctness allows when nothing tells
// which key opens an object.
//
// It prints one JSON line: versions listed, seconds listing, seconds
// copying, copied, failed, and requests by operation. Exit code 1 when a
// version failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/scripts/bench/internal/benchlab"
)

type options struct {
	source, dest             string
	sourceServer, destServer int
	workers, partWorkers     int
	partSize, threshold      int64
	keyFile                  string
	listOnly                 bool
	calls                    string
	sourceLayout             bool
}

func main() {
	var o options
	var partSize, threshold string
	flag.StringVar(&o.source, "source", "", "source bucket (required)")
	flag.StringVar(&o.dest, "dest", "", "destination bucket (required unless -list-only)")
	flag.IntVar(&o.sourceServer, "source-server", 1, "lab server of the source: 1 or 2 (MinIO), 3 (Ceph RGW)")
	flag.IntVar(&o.destServer, "dest-server", 1, "lab server of the destination; another server than the source's means streamed copies")
	flag.IntVar(&o.workers, "workers", 16, "keys copied in parallel")
	flag.IntVar(&o.partWorkers, "part-workers", 4, "parts of one object copied in parallel")
	flag.StringVar(&partSize, "part-size", "16MiB", "part size of multipart copies")
	flag.StringVar(&threshold, "multipart-threshold", "64MiB", "copy larger objects in parts")
	flag.StringVar(&o.keyFile, "keys", "", "SSE-C key file (s3backfill's format); every version is SSE-C under one of its keys")
	flag.BoolVar(&o.listOnly, "list-only", false, "list the source and stop")
	flag.BoolVar(&o.sourceLayout, "source-layout", false, "copy a multipart source in its own parts (HEAD with partNumber for each part's size), as s3backfill does by default")
	flag.StringVar(&o.calls, "calls", "copy", "copy: only the copy (SSE-C keys tried on the copy itself); "+
		"checked: the calls a copier that follows the replication rules and verifies its replicas must make, "+
		"as s3backfill does: HEAD the source (a keyless HEAD, then the keys, to learn its encryption), the copy, "+
		"HEAD the replica (with its checksum)")
	flag.Parse()
	var err error
	if o.partSize, err = parseSize(partSize); err == nil {
		o.threshold, err = parseSize(threshold)
	}
	if err != nil || o.source == "" || (o.dest == "" && !o.listOnly) || o.workers < 1 || o.partWorkers < 1 ||
		(o.calls != "copy" && o.calls != "checked") {
		fmt.Fprintln(os.Stderr, "usage: ceiling -source BUCKET -dest BUCKET [-workers W] [-part-workers P] [-part-size SIZE] [-multipart-threshold SIZE] [-keys FILE] [-source-server N -dest-server N] [-list-only]")
		os.Exit(2)
	}
	res, err := run(context.Background(), o)
	if res != nil {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

// parseSize reads 16MiB, 64MB or a number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

type result struct {
	Listed      int              `json:"listed"`
	ListSeconds float64          `json:"list_seconds"`
	CopySeconds float64          `json:"copy_seconds"`
	Copied      int64            `json:"copied"`
	Failed      int64            `json:"failed"`
	Bytes       int64            `json:"bytes"`
	Requests    map[string]int64 `json:"requests"`
}

type version struct {
	key, id string
	size    int64
}

type copier struct {
	o        options
	src, dst *s3.Client
	keys     []benchlab.Key
	mu       sync.Mutex
	requests map[string]int64
}

func (c *copier) count(op string) {
	c.mu.Lock()
	c.requests[op]++
	c.mu.Unlock()
}

func run(ctx context.Context, o options) (*result, error) {
	lab, err := benchlab.Load()
	if err != nil {
		return nil, err
	}
	conns := o.workers*o.partWorkers + 8 // every request in flight keeps its connection
	c := &copier{o: o, requests: map[string]int64{}}
	if c.src, err = lab.Client(o.sourceServer, conns); err != nil {
		return nil, err
	}
	if c.dst, err = lab.Client(o.destServer, conns); err != nil {
		return nil, err
	}
	if o.keyFile != "" {
		if c.keys, err = benchlab.ReadKeyFile(o.keyFile); err != nil {
			return nil, err
		}
	}
	res := &result{Requests: c.requests}

	start := time.Now()
	byKey, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	res.ListSeconds = time.Since(start).Seconds()
	for _, vs := range byKey {
		res.Listed += len(vs)
	}
	if o.listOnly {
		return res, nil
	}

	start = time.Now()
	var copied, failed, bytes atomic.Int64
	var firstErr error
	var errOnce sync.Once
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.workers)
	for _, vs := range byKey {
		g.Go(func() error {
			for _, v := range vs { // oldest first; a failure stops the key
				if err := c.copy(gctx, v); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("copy %s@%s: %w", v.key, v.id, err) })
					failed.Add(1)
					return nil
				}
				copied.Add(1)
				bytes.Add(v.size)
			}
			return nil
		})
	}
	_ = g.Wait()
	res.CopySeconds = time.Since(start).Seconds()
	res.Copied, res.Failed, res.Bytes = copied.Load(), failed.Load(), bytes.Load()
	if firstErr != nil {
		return res, fmt.Errorf("%d version(s) failed; the first: %w", res.Failed, firstErr)
	}
	return res, nil
}

// list returns the source's versions by key, oldest first within a key.
func (c *copier) list(ctx context.Context) ([][]version, error) {
	var byKey [][]version
	p := s3.NewListObjectVersionsPaginator(c.src, &s3.ListObjectVersionsInput{Bucket: aws.String(c.o.source)})
	last := ""
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		c.count("ListObjectVersions")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", c.o.source, err)
		}
		for _, v := range page.Versions { // key ascending, newest first
			k := aws.ToString(v.Key)
			if len(byKey) == 0 || k != last {
				byKey = append(byKey, nil)
				last = k
			}
			byKey[len(byKey)-1] = append(byKey[len(byKey)-1], version{k, aws.ToString(v.VersionId), aws.ToInt64(v.Size)})
		}
	}
	for _, vs := range byKey {
		slices.Reverse(vs)
	}
	return byKey, nil
}

func copySource(bucket, key, versionID string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
	}
	return bucket + "/" + strings.Join(segs, "/") + "?versionId=" + url.QueryEscape(versionID)
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// copy copies one version, trying the SSE-C keys in order when there are
// several (403 = wrong key).
func (c *copier) copy(ctx context.Context, v version) error {
	if c.o.calls == "checked" {
		return c.checkedCopy(ctx, v)
	}
	if len(c.keys) == 0 {
		return c.copyWith(ctx, v, nil)
	}
	var err error
	for i := range c.keys {
		if err = c.copyWith(ctx, v, &c.keys[i]); status(err) != 403 {
			return err
		}
	}
	return err
}

// checkedCopy makes the calls a rule-following, verifying copier needs:
// the source's encryption is not in a listing, so a HEAD (and, for an
// SSE-C version, HEADs with the keys until one opens it) comes first; the
// replica is read back with its checksum afterwards.
func (c *copier) checkedCopy(ctx context.Context, v version) error {
	head := func(cl *s3.Client, bucket, id string, k *benchlab.Key) error {
		in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(v.key), ChecksumMode: types.ChecksumModeEnabled}
		if id != "" {
			in.VersionId = aws.String(id)
		}
		if k != nil {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sse(k)
		}
		_, err := cl.HeadObject(ctx, in)
		c.count("HeadObject")
		return err
	}
	var key *benchlab.Key
	err := head(c.src, c.o.source, v.id, nil)
	if status(err) == 400 && len(c.keys) > 0 {
		for i := range c.keys {
			if err = head(c.src, c.o.source, v.id, &c.keys[i]); status(err) != 403 {
				key = &c.keys[i]
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if err := c.copyWith(ctx, v, key); err != nil {
		return err
	}
	return head(c.dst, c.o.dest, "", key)
}

func (c *copier) copyWith(ctx context.Context, v version, k *benchlab.Key) error {
	switch {
	case c.o.sourceServer != c.o.destServer:
		return c.stream(ctx, v, k)
	case v.size > c.o.threshold:
		return c.multipart(ctx, v, k)
	}
	in := &s3.CopyObjectInput{Bucket: aws.String(c.o.dest), Key: aws.String(v.key),
		CopySource: aws.String(copySource(c.o.source, v.key, v.id))}
	if k != nil {
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = sse(k)
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sse(k)
	}
	_, err := c.dst.CopyObject(ctx, in)
	c.count("CopyObject")
	return err
}

func sse(k *benchlab.Key) (alg, key, md5 *string) {
	return aws.String("AES256"), aws.String(k.Base64()), aws.String(k.MD5())
}

func (c *copier) multipart(ctx context.Context, v version, k *benchlab.Key) error {
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(c.o.dest), Key: aws.String(v.key)}
	if k != nil {
		create.SSECustomerAlgorithm, create.SSECustomerKey, create.SSECustomerKeyMD5 = sse(k)
	}
	up, err := c.dst.CreateMultipartUpload(ctx, create)
	c.count("CreateMultipartUpload")
	if err != nil {
		return err
	}
	sizes, err := c.layout(ctx, v, k)
	if err != nil {
		return err
	}
	n := len(sizes)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.partWorkers)
	var off int64
	for i := range n {
		first, last := off, off+sizes[i]-1
		off += sizes[i]
		g.Go(func() error {
			in := &s3.UploadPartCopyInput{Bucket: aws.String(c.o.dest), Key: aws.String(v.key), UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(copySource(c.o.source, v.key, v.id)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))}
			if k != nil {
				in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = sse(k)
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sse(k)
			}
			out, err := c.dst.UploadPartCopy(gctx, in)
			c.count("UploadPartCopy")
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		_, _ = c.dst.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(c.o.dest), Key: aws.String(v.key), UploadId: up.UploadId})
		return err
	}
	complete := &s3.CompleteMultipartUploadInput{Bucket: aws.String(c.o.dest), Key: aws.String(v.key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	if k != nil {
		complete.SSECustomerAlgorithm, complete.SSECustomerKey, complete.SSECustomerKeyMD5 = sse(k)
	}
	_, err = c.dst.CompleteMultipartUpload(ctx, complete)
	c.count("CompleteMultipartUpload")
	return err
}

// layout is the parts' sizes: the source's own with -source-layout (a HEAD
// with partNumber per part, -part-workers at a time), else -part-size parts.
func (c *copier) layout(ctx context.Context, v version, k *benchlab.Key) ([]int64, error) {
	if c.o.sourceLayout {
		head := func(n int32) (*s3.HeadObjectOutput, error) {
			in := &s3.HeadObjectInput{Bucket: aws.String(c.o.source), Key: aws.String(v.key), VersionId: aws.String(v.id), PartNumber: aws.Int32(n)}
			if k != nil {
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sse(k)
			}
			out, err := c.src.HeadObject(ctx, in)
			c.count("HeadObject")
			return out, err
		}
		first, err := head(1)
		if err != nil {
			return nil, err
		}
		if n := int(aws.ToInt32(first.PartsCount)); n > 1 {
			sizes := make([]int64, n)
			sizes[0] = aws.ToInt64(first.ContentLength)
			g, _ := errgroup.WithContext(ctx)
			g.SetLimit(c.o.partWorkers)
			for i := 2; i <= n; i++ {
				g.Go(func() error {
					out, err := head(int32(i))
					if err == nil {
						sizes[i-1] = aws.ToInt64(out.ContentLength)
					}
					return err
				})
			}
			return sizes, g.Wait()
		}
	}
	var sizes []int64
	for off := int64(0); off < v.size; off += c.o.partSize {
		sizes = append(sizes, min(c.o.partSize, v.size-off))
	}
	return sizes, nil
}

// stream copies through this process: GET, then an upload-manager PUT
// (one PutObject, or a multipart upload of -part-size parts,
// -part-workers at a time).
func (c *copier) stream(ctx context.Context, v version, k *benchlab.Key) error {
	get := &s3.GetObjectInput{Bucket: aws.String(c.o.source), Key: aws.String(v.key), VersionId: aws.String(v.id)}
	put := &s3.PutObjectInput{Bucket: aws.String(c.o.dest), Key: aws.String(v.key)}
	if k != nil {
		get.SSECustomerAlgorithm, get.SSECustomerKey, get.SSECustomerKeyMD5 = sse(k)
		put.SSECustomerAlgorithm, put.SSECustomerKey, put.SSECustomerKeyMD5 = sse(k)
	}
	obj, err := c.src.GetObject(ctx, get)
	c.count("GetObject")
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	put.Body = obj.Body
	up := manager.NewUploader(c.dst, func(u *manager.Uploader) {
		u.PartSize = c.o.partSize
		u.Concurrency = c.o.partWorkers
	})
	_, err = up.Upload(ctx, put)
	if v.size > c.o.partSize {
		c.count("MultipartUpload (manager)")
	} else {
		c.count("PutObject (manager)")
	}
	return err
}
