// Command seed fills a versioned source bucket in the lab for a benchmark
// scenario: keys × versions objects of one size, PUT in parallel (the
// versions of one key in order, keys side by side), optionally SSE-C under
// one of n benchmark keys chosen by a hash of the object key, so that
// neither the key name nor a prefix tells which key opens an object.
//
// A bucket that was seeded completely with the same settings is left as
// it is (the settings are stored as a bucket tag once the last PUT
// succeeded); one that was not is emptied and seeded again.
//
//	seed -bucket NAME -keys N [-versions V] [-size BYTES] [-ssec-keys K -key-file FILE] [-server 1|2] [-workers W]
//	seed -print-key N     print benchmark key N in base64 (for the peers' SSE-C flags)
//
// It prints one JSON line: bucket, versions, bytes, seconds (0 when the
// bucket was already seeded) and versions_per_second.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/scripts/bench/internal/benchlab"
)

type spec struct {
	bucket   string
	server   int
	keys     int
	versions int
	size     int64
	ssecKeys int
	keyFile  string
	workers  int
}

// tag is the bucket tag that marks a complete seeding with these settings.
func (s spec) tag() string {
	return fmt.Sprintf("k%d-v%d-s%d-c%d", s.keys, s.versions, s.size, s.ssecKeys)
}

const tagName = "s3backfill-bench-seed"

// objectKey names object i; every scenario uses the same names.
func objectKey(i int) string { return fmt.Sprintf("obj/%07d", i) }

// keyIndex is the SSE-C key of an object: a hash, so that keys are spread
// evenly and in no order a prefix could capture.
func keyIndex(name string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

func main() {
	var s spec
	flag.StringVar(&s.bucket, "bucket", "", "bucket to create and fill (required)")
	flag.IntVar(&s.server, "server", 1, "lab server: 1 or 2 (MinIO), 3 (Ceph RGW)")
	flag.IntVar(&s.keys, "keys", 0, "number of object keys (required)")
	flag.IntVar(&s.versions, "versions", 1, "versions per key, PUT in order")
	flag.Int64Var(&s.size, "size", 4096, "bytes per version")
	flag.IntVar(&s.ssecKeys, "ssec-keys", 0, "encrypt every version with SSE-C under one of this many benchmark keys")
	flag.StringVar(&s.keyFile, "key-file", "", "write the s3backfill key file for those keys here")
	// 64 PUTs in flight keep a 2-core MinIO busy without queueing much.
	flag.IntVar(&s.workers, "workers", 64, "keys seeded in parallel")
	printKey := flag.Int("print-key", -1, "print benchmark key N in base64 and exit")
	flag.Parse()
	if *printKey >= 0 {
		fmt.Println(benchlab.BenchKey(*printKey).Base64())
		return
	}
	if s.bucket == "" || s.keys < 1 || s.versions < 1 || s.size < 0 || s.workers < 1 || (s.ssecKeys > 0) != (s.keyFile != "") {
		fmt.Fprintln(os.Stderr, "usage: seed -bucket NAME -keys N [-versions V] [-size BYTES] [-ssec-keys K -key-file FILE] [-server 1|2] [-workers W]")
		os.Exit(2)
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

type result struct {
	Bucket            string  `json:"bucket"`
	Versions          int     `json:"versions"`
	Bytes             int64   `json:"bytes"`
	Seconds           float64 `json:"seconds"`
	VersionsPerSecond float64 `json:"versions_per_second"`
	AlreadySeeded     bool    `json:"already_seeded"`
}

func run(ctx context.Context, s spec) error {
	lab, err := benchlab.Load()
	if err != nil {
		return err
	}
	// Large objects go up in 4 parts at a time: more connections than
	// workers.
	c, err := lab.Client(s.server, s.workers*4+8)
	if err != nil {
		return err
	}
	var keys []benchlab.Key
	if s.ssecKeys > 0 {
		kf := benchlab.KeyFile{}
		for i := range s.ssecKeys {
			k := benchlab.BenchKey(i)
			keys = append(keys, k)
			// No prefixes: object names say nothing about their key,
			// so a tool must find the key of each object by trying.
			kf.Keys = append(kf.Keys, benchlab.KeyEntry{ID: k.ID, Key: k.Base64()})
		}
		b, _ := json.MarshalIndent(kf, "", "  ")
		if err := os.WriteFile(s.keyFile, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	res := result{Bucket: s.bucket, Versions: s.keys * s.versions, Bytes: int64(s.keys*s.versions) * s.size}

	seeded, exists, err := checkSeeded(ctx, c, s)
	if err != nil {
		return err
	}
	if seeded {
		res.AlreadySeeded = true
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	if exists {
		fmt.Fprintf(os.Stderr, "seed: %s exists but was not seeded completely with these settings: emptying it\n", s.bucket)
		labenv.Empty(c, s.bucket)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	if err := labenv.EnableVersioning(ctx, c, s.bucket); err != nil {
		return err
	}

	start := time.Now()
	var done atomic.Int64
	stop := make(chan struct{})
	go func() { // a line every 10 s, so that a long seeding shows it lives
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "seed: %s: %d/%d versions, %.0f/s\n", s.bucket, n, res.Versions, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	err = put(ctx, c, s, keys, &done)
	close(stop)
	if err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	res.VersionsPerSecond = float64(res.Versions) / res.Seconds
	_, err = c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(s.bucket),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(tagName), Value: aws.String(s.tag())}}}})
	if err != nil {
		return fmt.Errorf("tag %s: %w", s.bucket, err)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// checkSeeded tells whether the bucket exists and carries this seeding's tag.
func checkSeeded(ctx context.Context, c *s3.Client, s spec) (seeded, exists bool, err error) {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		var nf *types.NotFound
		var nb *types.NoSuchBucket
		if errors.As(err, &nf) || errors.As(err, &nb) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("head bucket %s: %w", s.bucket, err)
	}
	out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return false, true, nil // no tags: not seeded completely
	}
	for _, t := range out.TagSet {
		if aws.ToString(t.Key) == tagName && aws.ToString(t.Value) == s.tag() {
			return true, true, nil
		}
	}
	return false, true, nil
}

// put writes every version: keys in parallel, the versions of a key in order.
func put(ctx context.Context, c *s3.Client, s spec, keys []benchlab.Key, done *atomic.Int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers)
	up := manager.NewUploader(c, func(u *manager.Uploader) {
		// MinIO refuses an aws-chunked body chunk over 16 MiB, and the SDK
		// sends a part (with its trailing checksum) as one chunk.
		u.PartSize = 16 << 20
		u.Concurrency = 4
		// No trailing checksums where none is required: Ceph RGW (before
		// Reef) refuses them.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	for i := range s.keys {
		g.Go(func() error {
			name := objectKey(i)
			var key *benchlab.Key
			if len(keys) > 0 {
				key = &keys[keyIndex(name, len(keys))]
			}
			for v := range s.versions {
				if err := putOne(gctx, c, up, s, name, i, v, key); err != nil {
					return fmt.Errorf("put %s (version %d): %w", name, v+1, err)
				}
				done.Add(1)
			}
			return nil
		})
	}
	return g.Wait()
}

// smallLimit: versions up to this size are sent in one PutObject from
// memory; larger ones are streamed through the upload manager.
const smallLimit = 8 << 20

func putOne(ctx context.Context, c *s3.Client, up *manager.Uploader, s spec, name string, i, v int, key *benchlab.Key) error {
	// Content differs per version: a PRNG seeded by object and version.
	rng := rand.NewChaCha8(seedOf(i, v))
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(name), ContentType: aws.String("application/octet-stream")}
	if key != nil {
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(key.Base64())
		in.SSECustomerKeyMD5 = aws.String(key.MD5())
	}
	if s.size <= smallLimit {
		body := make([]byte, s.size)
		_, _ = rng.Read(body)
		in.Body = bytes.NewReader(body)
		_, err := c.PutObject(ctx, in)
		return err
	}
	in.Body = io.LimitReader(rng, s.size)
	_, err := up.Upload(ctx, in)
	return err
}

func seedOf(i, v int) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], uint64(i))
	binary.LittleEndian.PutUint64(seed[8:], uint64(v))
	return seed
}
