package job

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/planner"
)

// A report written where auditors look: --report s3://bucket/prefix/ puts
// the completion report in S3 in S3 Batch Operations' layout, so that the
// tools written for Batch Operations completion reports read it:
//
//	prefix/job-NAME/manifest.json                     names the result files
//	prefix/job-NAME/results/succeeded-00001.csv …     the rows, in parts
//
// with the seven columns of Batch Operations (Bucket, Key, VersionId,
// TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage), no header. It is
// written to a local folder first, which is kept (and named) if the upload
// fails: a report is never lost.

// batchSchema is manifest.json's ReportSchema: the first seven columns of
// the CSV report.
var batchSchema = reportHeader[:7]

// DefaultReportPartRows is how many rows a result file holds at most.
const DefaultReportPartRows = 100_000

// ObjectPutter uploads report files: *s3.Client satisfies it.
type ObjectPutter interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// batchResult is one entry of manifest.json's Results.
type batchResult struct {
	TaskExecutionStatus string `json:"TaskExecutionStatus"`
	Bucket              string `json:"Bucket"`
	MD5Checksum         string `json:"MD5Checksum"`
	Key                 string `json:"Key"`
}

// batchManifest is manifest.json.
type batchManifest struct {
	Format             string        `json:"Format"`
	ReportCreationDate string        `json:"ReportCreationDate"`
	Results            []batchResult `json:"Results"`
	ReportSchema       string        `json:"ReportSchema"`
}

// WriteBatchReport writes the report in Batch Operations' layout under
// dir (a local folder) for bucket/prefix: the result files by status, in
// parts of at most partRows rows, then manifest.json. It returns the
// files' paths relative to dir, manifest.json last.
func WriteBatchReport(ctx context.Context, rows RowReader, srcBucket, dir, bucket, prefix, job string, partRows int, now time.Time) ([]string, error) {
	if partRows <= 0 {
		partRows = DefaultReportPartRows
	}
	base := dirPrefix(prefix) + "job-" + job + "/"
	var (
		files   []string
		results []batchResult
	)
	for _, status := range []planner.Status{planner.StatusSucceeded, planner.StatusFailed, planner.StatusSkipped, planner.StatusPending, planner.StatusCopying} {
		var part *reportPart
		flush := func() error {
			if part == nil {
				return nil
			}
			sum, err := part.close()
			if err != nil {
				return err
			}
			results = append(results, batchResult{TaskExecutionStatus: taskStatus(status), Bucket: bucket, MD5Checksum: sum, Key: base + part.name})
			files = append(files, part.name)
			part = nil
			return nil
		}
		n := 0
		err := rows.EachRow(ctx, status, func(r planner.Row) error {
			if part == nil || part.rows == partRows {
				if err := flush(); err != nil {
					return err
				}
				n++
				var err error
				if part, err = newReportPart(dir, fmt.Sprintf("results/%s-%05d.csv", taskStatus(status), n)); err != nil {
					return err
				}
			}
			return part.write(reportRow(srcBucket, r)[:len(batchSchema)])
		})
		if err = errors.Join(err, flush()); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	m := batchManifest{Format: "Report_CSV_20180820", ReportCreationDate: now.UTC().Format("2006-01-02T15:04:05.000Z"),
		Results: results, ReportSchema: strings.Join(batchSchema, ", ")}
	if m.Results == nil {
		m.Results = []batchResult{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return append(files, "manifest.json"), nil
}

// reportPart is one result file being written.
type reportPart struct {
	name string
	f    *os.File
	w    *csv.Writer
	sum  hash.Hash
	rows int
}

func newReportPart(dir, name string) (*reportPart, error) {
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	h := md5.New()
	return &reportPart{name: name, f: f, w: csv.NewWriter(io.MultiWriter(f, h)), sum: h}, nil
}

func (p *reportPart) write(rec []string) error {
	p.rows++
	return p.w.Write(rec)
}

// close finishes the file and returns its MD5 (hex).
func (p *reportPart) close() (string, error) {
	p.w.Flush()
	if err := errors.Join(p.w.Error(), p.f.Close()); err != nil {
		return "", err
	}
	return hex.EncodeToString(p.sum.Sum(nil)), nil
}

// uploadReport uploads the files written under dir to bucket, under
// prefix's job folder, manifest.json last (a reader that finds it finds
// every file it names).
func uploadReport(ctx context.Context, c ObjectPutter, dir, bucket, prefix, job string, files []string) error {
	base := dirPrefix(prefix) + "job-" + job + "/"
	for _, name := range files {
		body, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		sum := md5.Sum(body)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(base + name),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ContentType: aws.String(contentType(name))})
		if err != nil {
			return fmt.Errorf("upload s3://%s/%s%s: %w", bucket, base, name, err)
		}
	}
	return nil
}

func contentType(name string) string {
	if strings.HasSuffix(name, ".json") {
		return "application/json"
	}
	return "text/csv"
}

// writeS3Report writes the report to --report s3://bucket/prefix/: to a
// local folder first, then uploaded (with the destination's credentials,
// or --report-profile's). The folder is removed once uploaded, and kept
// and named when the upload fails.
func (j *Job) writeS3Report(ctx context.Context, loc string) error {
	rest := strings.TrimPrefix(loc, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Usagef("--report %q: want s3://BUCKET/PREFIX/ or a file", loc)
	}
	now := j.Now().UTC()
	name := j.settings.Source.Bucket + "-" + now.Format("20060102T150405Z")
	dir, err := os.MkdirTemp("", "s3backfill-report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	files, err := WriteBatchReport(ctx, j.Store, j.settings.Source.Bucket, dir, bucket, prefix, name, j.settings.ReportPartRows, now)
	if err != nil {
		return err
	}
	c := j.Reports
	if c == nil {
		c = j.Dest
	}
	if err := uploadReport(ctx, c, dir, bucket, prefix, name, files); err != nil {
		j.Notice(fmt.Sprintf("the report could not be uploaded (%v); it is kept in %s", err, dir))
		return fmt.Errorf("report: %w", err)
	}
	os.RemoveAll(dir)
	j.Log.Info("report written", "location", fmt.Sprintf("s3://%s/%sjob-%s/manifest.json", bucket, dirPrefix(prefix), name))
	return nil
}

func dirPrefix(p string) string {
	if p = strings.TrimSuffix(p, "/"); p != "" {
		return p + "/"
	}
	return ""
}
