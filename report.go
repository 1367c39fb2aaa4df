package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/s3backfill/s3backfill/checkpoint"
)

// reportHeader: the first seven columns are S3 Batch Operations'
// completion report; the rest say where each replica went and what it is.
var reportHeader = []string{
	"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage",
	"DestinationBucket", "DestinationKey", "DestinationVersionId",
	"SourceEncryption", "ReplicaEncryption", "KeyId", "ReplicaKeyId",
	"Size", "SourceETag", "ReplicaETag", "ETagStatus", "ETagReason", "ChecksumStatus", "ChecksumReason",
	"DeleteMarker", "RuleId", "PartLayout", "VerifyStatus", "VerifyMessage",
}

// writeReport writes the CSV report of every row (or the failed ones),
// by key and oldest version first.
func writeReport(ctx context.Context, db *checkpoint.DB, s Settings, w io.Writer, failedOnly bool) error {
	src, _ := parseS3URL("source", s.Source)
	cw := csv.NewWriter(w)
	if err := cw.Write(reportHeader); err != nil {
		return err
	}
	err := db.EachRow(ctx, onlyFailed(failedOnly), func(r checkpoint.Row) error {
		return cw.Write(reportRow(src.Bucket, r))
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func reportRow(srcBucket string, r checkpoint.Row) []string {
	httpStatus := ""
	switch {
	case r.HTTPStatus != 0:
		httpStatus = strconv.Itoa(r.HTTPStatus)
	case r.Status == checkpoint.StatusSucceeded:
		httpStatus = "200"
	}
	keyID := firstNonEmpty(r.SSECKeyID, r.KMSKeyID)
	replicaKeyID := firstNonEmpty(r.ReplicaSSECKeyID, r.ReplicaKMSKeyID)
	replicaEnc := r.ReplicaEncryption
	if r.Status != checkpoint.StatusSucceeded {
		replicaEnc = "" // planned, not made
	}
	size := strconv.FormatInt(r.Size, 10)
	return []string{
		srcBucket, encodeKey(r.Key), r.VersionID, taskStatus(r.Status), r.ErrorCode, httpStatus, r.Message,
		r.Dest, encodeKey(r.DestKey), r.DestVersionID,
		sourceEncryption(r), replicaEnc, keyID, replicaKeyID,
		size, strings.Trim(r.ETag, `"`), strings.Trim(r.ReplicaETag, `"`), r.ETagStatus, r.ETagReason,
		r.ChecksumStatus, r.ChecksumReason, strconv.FormatBool(r.DeleteMarker), r.RuleID, r.PartLayout, r.VerifyStatus, r.VerifyMessage,
	}
}

// taskStatus is succeeded, failed or skipped for a settled row; a row not
// settled yet (the job is unfinished) shows its state as is.
func taskStatus(s string) string {
	if s == checkpoint.StatusCopying {
		return "in-doubt"
	}
	return s
}

func sourceEncryption(r checkpoint.Row) string {
	if r.DeleteMarker {
		return ""
	}
	return r.SourceEncryption
}

// encodeKey URL-encodes a key as S3 Batch Operations reports and manifests
// do: every byte but unreserved characters and "/" is percent-encoded, so a
// key with commas, quotes or newlines stays one CSV field and decodes back
// with any URL decoder.
func encodeKey(key string) string {
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

// writeReportFile writes the report next to path and renames it into
// place, so that a reader never sees half a report.
func writeReportFile(ctx context.Context, db *checkpoint.DB, s Settings, path string, failedOnly bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeReport(ctx, db, s, tmp, failedOnly); err != nil {
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

func onlyFailed(failedOnly bool) string {
	if failedOnly {
		return checkpoint.StatusFailed
	}
	return ""
}
