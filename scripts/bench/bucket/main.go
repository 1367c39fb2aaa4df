// Command bucket makes, counts and removes the benchmark's destination
// buckets in the lab.
//
//	bucket [-server 1|2] new NAME     create NAME, versioning on
//	bucket [-server 1|2] count NAME   print "VERSIONS BYTES ENCRYPTION" (delete markers not
//	                                  counted; the encryption of the first version, from a HEAD
//	                                  without key: SSE-C, AES256, aws:kms or none)
//	bucket [-server 1|2] rm NAME      delete every version, then the bucket
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/scripts/bench/internal/benchlab"
)

func main() {
	server := flag.Int("server", 1, "lab server: 1 or 2 (MinIO), 3 (Ceph RGW)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: bucket [-server 1|2] new|count|rm NAME")
		os.Exit(2)
	}
	if err := run(context.Background(), *server, flag.Arg(0), flag.Arg(1)); err != nil {
		fmt.Fprintln(os.Stderr, "bucket:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, server int, cmd, name string) error {
	lab, err := benchlab.Load()
	if err != nil {
		return err
	}
	c, err := lab.Client(server, 16)
	if err != nil {
		return err
	}
	switch cmd {
	case "new":
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
		return labenv.EnableVersioning(ctx, c, name)
	case "count":
		var n, size int64
		var first *types.ObjectVersion
		p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(name)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list %s: %w", name, err)
			}
			for i, v := range page.Versions {
				if first == nil {
					first = &page.Versions[i]
				}
				n++
				size += aws.ToInt64(v.Size)
			}
		}
		enc := "none"
		if first != nil {
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(name), Key: first.Key, VersionId: first.VersionId})
			var re *awshttp.ResponseError
			switch {
			case errors.As(err, &re) && re.HTTPStatusCode() == 400:
				enc = "SSE-C" // S3 answers 400 to a HEAD without the customer key
			case err != nil:
				return fmt.Errorf("head %s/%s: %w", name, aws.ToString(first.Key), err)
			case head.ServerSideEncryption != "":
				enc = string(head.ServerSideEncryption)
			}
		}
		fmt.Println(n, size, enc)
		return nil
	case "rm":
		labenv.Empty(c, name)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}
