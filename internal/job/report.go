package job

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/s3backfill/s3backfill/planner"
)

// RowReader is the part of a Store that reports read: a report or status
// needs nothing else, so they run on a checkpoint opened read-only while a
// run writes it.
type RowReader interface {
	EachRow(ctx context.Context, status planner.Status, fn func(planner.Row) error) error
	Counts(ctx context.Context) ([]planner.Count, error)
	LastRun(ctx context.Context) (*planner.RunStats, error)
	Workers(ctx context.Context) ([]planner.Worker, error)
	// RequestsByOperation sums every run's requests by S3 operation.
	RequestsByOperation(ctx context.Context) (map[string]int64, error)
}

// reportHeader: the first seven columns are S3 Batch Operations'
// completion report; the rest say where each replica went and what it is.
var reportHeader = []string{
	"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage",
	"DestinationBucket", "DestinationKey", "DestinationVersionId",
	"SourceEncryption", "ReplicaEncryption", "KeyId", "ReplicaKeyId",
	"Size", "SourceETag", "ReplicaETag", "ETagStatus", "ETagReason", "ChecksumStatus", "ChecksumReason",
	"DeleteMarker", "RuleId", "PartLayout", "VerifyStatus", "VerifyMessage", "SourceFacts",
}

// WriteReport writes the CSV completion report of every task (or the
// failed ones) of the job whose source bucket is srcBucket, by destination,
// key and oldest version first.
func WriteReport(ctx context.Context, rows RowReader, srcBucket string, w io.Writer, failedOnly bool) error {
	return WriteReportAs(ctx, rows, srcBucket, w, failedOnly, "csv")
}

// WriteReportAs writes the report in a format: csv (the completion
// report), json (one JSON object per row, one row a line, the CSV's
// columns as names), or manifest (an S3 Batch Operations CSV manifest of
// the rows: bucket,key,versionId, keys URL-encoded, no header: the input
// of Batch Operations or of --manifest, e.g. to retry the failed ones).
func WriteReportAs(ctx context.Context, rows RowReader, srcBucket string, w io.Writer, failedOnly bool, format string) error {
	var only planner.Status
	if failedOnly {
		only = planner.StatusFailed
	}
	cw := csv.NewWriter(w)
	var write func(planner.Row) error
	switch format {
	case "", "csv":
		if err := cw.Write(reportHeader); err != nil {
			return err
		}
		write = func(r planner.Row) error { return cw.Write(reportRow(srcBucket, r)) }
	case "json":
		enc := json.NewEncoder(w)
		write = func(r planner.Row) error {
			obj := make(map[string]string, len(reportHeader))
			for i, v := range reportRow(srcBucket, r) {
				obj[reportHeader[i]] = v
			}
			return enc.Encode(obj)
		}
	case "manifest":
		seen := map[[2]string]bool{} // a version with several destinations is listed once
		write = func(r planner.Row) error {
			if seen[[2]string{r.Key, r.VersionID}] {
				return nil
			}
			seen[[2]string{r.Key, r.VersionID}] = true
			return cw.Write([]string{srcBucket, EncodeKey(r.Key), r.VersionID})
		}
	default:
		return Usagef("--format %q: want csv, json or manifest", format)
	}
	if err := rows.EachRow(ctx, only, write); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// WriteReportFile writes the report next to path and renames it into
// place, so that a reader never sees half a report.
func WriteReportFile(ctx context.Context, rows RowReader, srcBucket, path string, failedOnly bool, format string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteReportAs(ctx, rows, srcBucket, tmp, failedOnly, format); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := errors.Join(tmp.Chmod(0o644), tmp.Close()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteReport writes the job's report to its --report file, if it has one.
func (j *Job) WriteReport(ctx context.Context) error {
	path := j.settings.Spec.Report
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "s3://") {
		return j.writeS3Report(ctx, path)
	}
	if err := WriteReportFile(ctx, j.Store, j.settings.Source.Bucket, path, false, "csv"); err != nil {
		return err
	}
	j.Log.Info("report written", "path", path)
	return nil
}

// reportRow is one task as the report shows it.
func reportRow(srcBucket string, r planner.Row) []string {
	httpStatus := ""
	switch {
	case r.HTTPStatus != 0:
		httpStatus = strconv.Itoa(r.HTTPStatus)
	case r.Status == planner.StatusSucceeded:
		httpStatus = "200"
	}
	keyID := firstNonEmpty(r.SSECKeyID, r.KMSKeyID)
	replicaKeyID := firstNonEmpty(r.ReplicaSSECKeyID, r.ReplicaKMSKeyID)
	var replicaEnc planner.Encryption // planned, not made, unless succeeded
	if r.Status == planner.StatusSucceeded {
		replicaEnc = r.Replica.Encryption
	}
	sourceEnc := r.Encryption
	if r.DeleteMarker {
		sourceEnc = ""
	}
	size := strconv.FormatInt(r.Size, 10)
	rep := r.Replica
	return []string{
		srcBucket, EncodeKey(r.Key), r.VersionID, taskStatus(r.Status), r.ErrorCode, httpStatus, r.Message,
		r.Dest, EncodeKey(r.DestKey), rep.VersionID,
		string(sourceEnc), string(replicaEnc), keyID, replicaKeyID,
		size, strings.Trim(r.ETag, `"`), strings.Trim(rep.ETag, `"`), rep.ETagStatus, rep.ETagReason,
		rep.ChecksumStatus, rep.ChecksumReason, strconv.FormatBool(r.DeleteMarker), r.RuleID, rep.PartLayout,
		r.Verify.Status, r.Verify.Message, r.From,
	}
}

// taskStatus is succeeded, failed or skipped for a settled task; a task not
// settled yet (the job is unfinished) shows its state as is.
func taskStatus(s planner.Status) string {
	if s == planner.StatusCopying {
		return "in-doubt"
	}
	return string(s)
}

// EncodeKey URL-encodes a key as S3 Batch Operations reports and manifests
// do: every byte but unreserved characters and "/" is percent-encoded, so a
// key with commas, quotes or newlines stays one CSV field and decodes back
// with any URL decoder.
func EncodeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
