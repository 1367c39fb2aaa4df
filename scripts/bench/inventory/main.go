// Command inventory writes an S3 Inventory report ("All versions", with
// every field s3backfill reads) to a local folder, as S3 writes one: a
// manifest.json naming gzipped CSV or Parquet data files. It prints the
// manifest's path.
//
//	inventory -bucket SRC -out DIR [-format CSV|Parquet]
//	    of a lab bucket: its listing, each version's encryption from a HEAD
//	inventory -synthetic N -bucket NAME -out DIR [-format CSV|Parquet]
//	    N made-up versions of 10 per key (for the load benchmark: no bucket)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/inventory/manifesttest"
	"github.com/s3backfill/s3backfill/planner"
	"github.com/s3backfill/s3backfill/scripts/bench/internal/benchlab"
)

func main() {
	bucket := flag.String("bucket", "", "the source bucket the inventory lists")
	out := flag.String("out", "", "the folder to write the report to")
	format := flag.String("format", "CSV", "CSV or Parquet")
	synthetic := flag.Int("synthetic", 0, "write this many made-up versions instead of listing the bucket")
	perFile := flag.Int("rows-per-file", 250_000, "rows per data file")
	flag.Parse()
	if *bucket == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: inventory [-synthetic N] -bucket NAME -out DIR [-format CSV|Parquet]")
		os.Exit(2)
	}
	var rows []manifesttest.Row
	var err error
	if *synthetic > 0 {
		rows = syntheticRows(*synthetic)
	} else {
		rows, err = listed(context.Background(), *bucket)
	}
	if err == nil {
		var loc string
		loc, err = manifesttest.WriteDir(rows, manifesttest.Options{Format: *format, SourceBucket: *bucket, DestBucket: "inventory",
			Prefix: *bucket + "/all/", RowsPerFile: *perFile}, *out)
		fmt.Println(loc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

// syntheticRows are n versions of 10 per key, plain, in the order S3
// lists them.
func syntheticRows(n int) []manifesttest.Row {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]manifesttest.Row, 0, n)
	for i := 0; i < n; i++ {
		k, v := i/10, 9-i%10
		rows = append(rows, manifesttest.Row{Key: fmt.Sprintf("data/%04d/obj-%07d.bin", k%1000, k),
			VersionID: fmt.Sprintf("v%07d-%d", k, v), IsLatest: v == 9, Size: 4096,
			LastModified: t0.Add(time.Duration(k*10+v) * time.Second), ETag: fmt.Sprintf("%032x", i),
			StorageClass: "STANDARD", EncryptionStatus: "NOT-SSE"})
	}
	return rows
}

// listed is the inventory of a lab bucket: its listing, with each
// version's encryption as a HEAD of it says.
func listed(ctx context.Context, bucket string) ([]manifesttest.Row, error) {
	lab, err := benchlab.Load()
	if err != nil {
		return nil, err
	}
	c, err := lab.Client(1, 32)
	if err != nil {
		return nil, err
	}
	var rows []manifesttest.Row
	err = inventory.List(ctx, c, bucket, "", func(v planner.Version) error {
		r := manifesttest.Row{Key: v.Key, VersionID: v.VersionID, IsLatest: v.IsLatest, DeleteMarker: v.DeleteMarker,
			Size: v.Size, LastModified: v.LastModified, ETag: strings.Trim(v.ETag, `"`), StorageClass: v.StorageClass}
		if r.VersionID == "null" {
			r.VersionID = ""
		}
		if r.StorageClass == "" && !r.DeleteMarker {
			r.StorageClass = "STANDARD"
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	var mu sync.Mutex
	for i := range rows {
		if rows[i].DeleteMarker {
			continue
		}
		g.Go(func() error {
			h, err := c.HeadObject(gctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(rows[i].Key),
				VersionId: aws.String(versionOf(rows[i]))})
			enc := planner.SSEC // a HEAD without its key is refused
			if err == nil {
				enc = planner.EncryptionOf(string(h.ServerSideEncryption), aws.ToString(h.SSECustomerAlgorithm))
			}
			mu.Lock()
			rows[i].EncryptionStatus = string(enc)
			if enc == planner.SSEKMS {
				rows[i].BucketKeyStatus = "DISABLED"
			}
			mu.Unlock()
			return nil
		})
	}
	return rows, g.Wait()
}

func versionOf(r manifesttest.Row) string {
	if r.VersionID == "" {
		return "null"
	}
	return r.VersionID
}
