// Package manifesttest writes S3 Inventory reports as S3 writes them (a
// manifest.json naming gzipped CSV or Parquet data files), for tests and
// benchmarks that need a manifest of a bucket they seeded.
package manifesttest

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row is one version as an "All versions" inventory lists it.
type Row struct {
	Key, VersionID    string // "" VersionID: the null version
	IsLatest          bool
	DeleteMarker      bool
	Size              int64
	LastModified      time.Time
	ETag              string // without quotes, as inventories write it
	StorageClass      string
	ReplicationStatus string
	EncryptionStatus  string // NOT-SSE, SSE-S3, SSE-KMS, DSSE-KMS, SSE-C
	BucketKeyStatus   string // ENABLED, DISABLED
	ChecksumAlgorithm string // CRC32, CRC32C, CRC64NVME, SHA1, SHA256 or ""
	LockMode          string // GOVERNANCE, COMPLIANCE or ""
	LockUntil         time.Time
	LegalHold         bool
}

// Options say what report to write.
type Options struct {
	Format       string // "CSV" or "Parquet"
	SourceBucket string
	DestBucket   string // the bucket the report is written to (for destinationBucket)
	Prefix       string // keys of the report's files start with it, e.g. "inventory/src/all/"
	RowsPerFile  int    // 0: all rows in one data file
	// Columns are the CSV columns in order (S3's names); nil: every column
	// Row has. Parquet files always have every column.
	Columns []string
}

// AllColumns are the CSV columns of an inventory with every field Row has.
var AllColumns = []string{"Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate",
	"ETag", "StorageClass", "ReplicationStatus", "EncryptionStatus", "BucketKeyStatus", "ChecksumAlgorithm",
	"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"}

// Write writes the data files and the manifest.json through put and
// returns the manifest's key.
func Write(rows []Row, o Options, put func(key string, body []byte) error) (string, error) {
	if o.RowsPerFile <= 0 {
		o.RowsPerFile = max(len(rows), 1)
	}
	cols := o.Columns
	if cols == nil {
		cols = AllColumns
	}
	type file struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5checksum string `json:"MD5checksum"`
	}
	var files []file
	for i := 0; i < len(rows) || (i == 0 && len(files) == 0); i += o.RowsPerFile {
		part := rows[i:min(i+o.RowsPerFile, len(rows))]
		var body []byte
		var err error
		name := fmt.Sprintf("%sdata/%08d", o.Prefix, len(files))
		if o.Format == "Parquet" {
			body, err = ParquetFile(o.SourceBucket, part)
			name += ".parquet"
		} else {
			body, err = CSVFile(o.SourceBucket, part, cols)
			name += ".csv.gz"
		}
		if err != nil {
			return "", err
		}
		if err := put(name, body); err != nil {
			return "", err
		}
		sum := md5.Sum(body)
		files = append(files, file{Key: name, Size: int64(len(body)), MD5checksum: hex.EncodeToString(sum[:])})
	}
	schema := strings.Join(cols, ", ")
	if o.Format == "Parquet" {
		schema = parquetSchema
	}
	manifest, err := json.MarshalIndent(map[string]any{
		"sourceBucket":      o.SourceBucket,
		"destinationBucket": "arn:aws:s3:::" + o.DestBucket,
		"version":           "2016-11-30",
		"creationTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"fileFormat":        o.Format,
		"fileSchema":        schema,
		"files":             files,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	key := o.Prefix + time.Now().UTC().Format("2006-01-02T15-04Z") + "/manifest.json"
	return key, put(key, manifest)
}

// CSVFile is one gzipped CSV data file: no header, every field quoted,
// keys URL-encoded with a space as "+".
func CSVFile(bucket string, rows []Row, cols []string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	for _, r := range rows {
		vals := map[string]string{
			"Bucket": bucket, "Key": url.QueryEscape(r.Key), "VersionId": r.VersionID,
			"IsLatest": strconv.FormatBool(r.IsLatest), "IsDeleteMarker": strconv.FormatBool(r.DeleteMarker),
			"LastModifiedDate": r.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
			"ETag":             r.ETag, "StorageClass": r.StorageClass, "ReplicationStatus": r.ReplicationStatus,
			"EncryptionStatus": r.EncryptionStatus, "BucketKeyStatus": r.BucketKeyStatus, "ChecksumAlgorithm": r.ChecksumAlgorithm,
			"ObjectLockMode": r.LockMode, "ObjectLockLegalHoldStatus": map[bool]string{true: "ON", false: "OFF"}[r.LegalHold],
		}
		if !r.LockUntil.IsZero() {
			vals["ObjectLockRetainUntilDate"] = r.LockUntil.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		if !r.DeleteMarker {
			vals["Size"] = strconv.FormatInt(r.Size, 10)
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = `"` + strings.ReplaceAll(vals[c], `"`, `""`) + `"`
		}
		if _, err := gz.Write([]byte(strings.Join(quoted, ",") + "\n")); err != nil {
			return nil, err
		}
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BatchCSV is a Batch Operations CSV manifest of the rows: bucket,key,versionId
// (keys URL-encoded, no header); withVersions false leaves the ids out.
func BatchCSV(bucket string, rows []Row, withVersions bool) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, r := range rows {
		rec := []string{bucket, url.QueryEscape(r.Key)}
		if withVersions {
			rec = append(rec, r.VersionID)
		}
		w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// parquetRow is a Parquet inventory row, with S3's column names and types.
type parquetRow struct {
	Bucket            string    `parquet:"bucket"`
	Key               string    `parquet:"key"`
	VersionID         *string   `parquet:"version_id,optional"`
	IsLatest          bool      `parquet:"is_latest"`
	IsDeleteMarker    bool      `parquet:"is_delete_marker"`
	Size              *int64    `parquet:"size,optional"`
	LastModifiedDate  time.Time `parquet:"last_modified_date,timestamp(millisecond)"`
	ETag              *string   `parquet:"e_tag,optional"`
	StorageClass      *string   `parquet:"storage_class,optional"`
	ReplicationStatus *string   `parquet:"replication_status,optional"`
	EncryptionStatus  *string   `parquet:"encryption_status,optional"`
	BucketKeyStatus   *string   `parquet:"bucket_key_status,optional"`
	ChecksumAlgorithm *string   `parquet:"checksum_algorithm,optional"`
	LockMode          *string   `parquet:"object_lock_mode,optional"`
	LockUntil         *int64    `parquet:"object_lock_retain_until_date,optional,timestamp(millisecond)"`
	LegalHold         *string   `parquet:"object_lock_legal_hold_status,optional"`
}

// parquetSchema is the fileSchema of manifest.json for parquetRow's files.
const parquetSchema = `message s3.inventory { required binary bucket (STRING); required binary key (STRING); ` +
	`optional binary version_id (STRING); required boolean is_latest; required boolean is_delete_marker; ` +
	`optional int64 size; required int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING); ` +
	`optional binary storage_class (STRING); optional binary replication_status (STRING); ` +
	`optional binary encryption_status (STRING); optional binary bucket_key_status (STRING); ` +
	`optional binary checksum_algorithm (STRING); optional binary object_lock_mode (STRING); ` +
	`optional int64 object_lock_retain_until_date (TIMESTAMP(MILLIS,true)); optional binary object_lock_legal_hold_status (STRING);}`

// ParquetFile is one Parquet data file of the rows.
func ParquetFile(bucket string, rows []Row) ([]byte, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out := make([]parquetRow, len(rows))
	for i, r := range rows {
		p := parquetRow{Bucket: bucket, Key: r.Key, VersionID: opt(r.VersionID), IsLatest: r.IsLatest,
			IsDeleteMarker: r.DeleteMarker, LastModifiedDate: r.LastModified.UTC(), ETag: opt(r.ETag),
			StorageClass: opt(r.StorageClass), ReplicationStatus: opt(r.ReplicationStatus),
			EncryptionStatus: opt(r.EncryptionStatus), BucketKeyStatus: opt(r.BucketKeyStatus),
			ChecksumAlgorithm: opt(r.ChecksumAlgorithm), LockMode: opt(r.LockMode),
			LegalHold: opt(map[bool]string{true: "ON", false: ""}[r.LegalHold])}
		if !r.LockUntil.IsZero() {
			ms := r.LockUntil.UnixMilli()
			p.LockUntil = &ms
		}
		if !r.DeleteMarker {
			size := r.Size
			p.Size = &size
		}
		out[i] = p
	}
	return WriteParquet(out)
}

// WriteParquet writes rows of any struct as one Parquet file.
func WriteParquet[T any](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteDir writes the report under dir, as a folder synced from S3 holds
// it, and returns its manifest.json's path.
func WriteDir(rows []Row, o Options, dir string) (string, error) {
	key, err := Write(rows, o, func(key string, body []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, body, 0o644)
	})
	return filepath.Join(dir, filepath.FromSlash(key)), err
}
