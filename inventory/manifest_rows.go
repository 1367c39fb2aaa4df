package inventory

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// field is a column an inventory may have.
type field int

const (
	fBucket field = iota
	fKey
	fVersionID
	fIsLatest
	fIsDeleteMarker
	fSize
	fLastModified
	fETag
	fStorageClass
	fReplicationStatus
	fEncryptionStatus
	fBucketKeyStatus
	fTier // IntelligentTieringAccessTier
	fChecksumAlgorithm
	fLockMode  // ObjectLockMode
	fLockUntil // ObjectLockRetainUntilDate
	fLegalHold // ObjectLockLegalHoldStatus
	nFields
)

// fieldNames are the fields' names, as S3 Inventory's CSV schema spells
// them; Parquet's snake_case names compare equal (see fold).
var fieldNames = [nFields]string{
	fBucket: "Bucket", fKey: "Key", fVersionID: "VersionId", fIsLatest: "IsLatest",
	fIsDeleteMarker: "IsDeleteMarker", fSize: "Size", fLastModified: "LastModifiedDate", fETag: "ETag",
	fStorageClass: "StorageClass", fReplicationStatus: "ReplicationStatus", fEncryptionStatus: "EncryptionStatus",
	fBucketKeyStatus: "BucketKeyStatus", fTier: "IntelligentTieringAccessTier", fChecksumAlgorithm: "ChecksumAlgorithm",
	fLockMode: "ObjectLockMode", fLockUntil: "ObjectLockRetainUntilDate", fLegalHold: "ObjectLockLegalHoldStatus",
}

// fold makes CSV and Parquet column names compare equal: VersionId and
// version_id, ETag and e_tag.
func fold(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "_", ""))
}

// columns says where each field is in a data file: a CSV's position, or a
// Parquet column's name; -1 or "" where the schema has none.
type columns struct {
	pos   [nFields]int
	name  [nFields]string
	width int // a CSV line's fields
}

func (c columns) has(f field) bool { return c.pos[f] >= 0 }

// noColumns is a schema with none of the fields (a Batch Operations CSV's:
// bucket, key and version id only).
func noColumns() columns {
	var c columns
	for i := range c.pos {
		c.pos[i] = -1
	}
	return c
}

// parquetField matches one field of a Parquet message schema:
// "optional binary version_id (STRING);".
var parquetField = regexp.MustCompile(`(?:required|optional|repeated)\s+\w+\s+(\w+)`)

// parseSchema finds the fields in fileSchema: a CSV's comma-separated
// column list, or a Parquet message schema. Key is required.
func parseSchema(format, schema string) (columns, error) {
	var names []string
	if format == FormatInventoryParquet {
		for _, m := range parquetField.FindAllStringSubmatch(schema, -1) {
			names = append(names, m[1])
		}
	} else {
		names = strings.Split(schema, ",")
	}
	c := noColumns()
	c.width = len(names)
	for i, n := range names {
		for f, want := range fieldNames {
			if fold(n) == fold(want) {
				c.pos[f], c.name[f] = i, strings.TrimSpace(n)
			}
		}
	}
	if !c.has(fKey) {
		return c, fmt.Errorf("%q has no Key column", schema)
	}
	return c, nil
}

// record is one line of a manifest. Its fields are exported for the
// sort's spill files (encoding/gob).
type record struct {
	Key          string
	VersionID    string // "null" for the null version; "" names the key's current version
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	LastModified time.Time
	ETag         string
	StorageClass string
	Replication  string // ReplicationStatus
	Encryption   string // EncryptionStatus
	BucketKey    string // BucketKeyStatus: ENABLED or DISABLED
	Tier         string // IntelligentTieringAccessTier
	Checksum     string // ChecksumAlgorithm
	LockMode     string // ObjectLockMode: GOVERNANCE, COMPLIANCE
	LockUntil    time.Time
	LegalHold    bool  // ObjectLockLegalHoldStatus ON
	Seq          int64 // its place in the manifest
}

// where names a line of a file in errors.
type where struct {
	file string
	line int64
}

func (w where) errorf(format string, args ...any) error {
	return badf("%s line %d: %s", w.file, w.line, fmt.Sprintf(format, args...))
}

// each reads every line of the manifest, in order, checking what it can:
// an inventory's data files are fetched into dir (their MD5 checked) and
// read by its schema; a Batch Operations CSV is read as bucket,key[,versionId]
// with bucket the job's source bucket.
func (m *Manifest) each(ctx context.Context, bucket, dir string, fn func(record) error) error {
	if m.Format == FormatBatchCSV {
		r, err := m.fs.open(ctx, m.Location)
		if err != nil {
			return err
		}
		defer r.Close()
		return readBatchCSV(r, m.Location, bucket, fn)
	}
	var seq int64
	for _, f := range m.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		path, err := m.fs.fetch(ctx, f, dir)
		if err != nil {
			return err
		}
		count := func(r record) error {
			seq++
			r.Seq = seq
			return fn(r)
		}
		if m.Format == FormatInventoryParquet {
			err = readParquet(path, f.name, m.schema, count)
		} else {
			err = readInventoryCSV(path, f.name, m.schema, count)
		}
		if err = errors.Join(err, os.Remove(path)); err != nil {
			return err
		}
	}
	return nil
}

// readBatchCSV reads a Batch Operations CSV manifest.
func readBatchCSV(r io.Reader, name, bucket string, fn func(record) error) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for n := int64(1); ; n++ {
		at := where{name, n}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return at.errorf("%v", err)
		}
		if len(rec) < 2 || len(rec) > 3 {
			return at.errorf("%d fields; want bucket,key[,versionId]", len(rec))
		}
		if rec[0] != bucket {
			return at.errorf("bucket %q is not the job's source bucket %q", rec[0], bucket)
		}
		key, err := url.QueryUnescape(rec[1])
		if err != nil || key == "" {
			return at.errorf("key %q is not a URL-encoded key", rec[1])
		}
		out := record{Key: key, Seq: n}
		if len(rec) == 3 {
			out.VersionID = rec[2]
		}
		if err := fn(out); err != nil {
			return err
		}
	}
}

// readInventoryCSV reads one gzipped CSV data file of an inventory.
func readInventoryCSV(path, name string, c columns, fn func(record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return badf("data file %s: not gzip: %v", name, err)
	}
	cr := csv.NewReader(gz)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for n := int64(1); ; n++ {
		at := where{"data file " + name, n}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return at.errorf("%v", err)
		}
		if len(rec) < c.width {
			return at.errorf("%d fields; the manifest's fileSchema has %d", len(rec), c.width)
		}
		r, err := csvRecord(rec, c)
		if err != nil {
			return at.errorf("%v", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// csvRecord reads one inventory CSV line by the schema.
func csvRecord(rec []string, c columns) (record, error) {
	get := func(f field) string {
		if !c.has(f) {
			return ""
		}
		return rec[c.pos[f]]
	}
	var r record
	var err error
	// S3 Inventory URL-encodes CSV keys, a space as "+".
	if r.Key, err = url.QueryUnescape(get(fKey)); err != nil || r.Key == "" {
		return r, fmt.Errorf("key %q is not a URL-encoded key", get(fKey))
	}
	r.VersionID = get(fVersionID)
	if c.has(fVersionID) && r.VersionID == "" {
		r.VersionID = "null" // the version written while versioning was off
	}
	if r.IsLatest, err = csvBool(get(fIsLatest), !c.has(fVersionID)); err != nil {
		return r, fmt.Errorf("IsLatest: %w", err)
	}
	if r.DeleteMarker, err = csvBool(get(fIsDeleteMarker), false); err != nil {
		return r, fmt.Errorf("IsDeleteMarker: %w", err)
	}
	if s := get(fSize); s != "" {
		if r.Size, err = strconv.ParseInt(s, 10, 64); err != nil || r.Size < 0 {
			return r, fmt.Errorf("Size %q is not a byte count", s)
		}
	}
	if s := get(fLastModified); s != "" {
		if r.LastModified, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return r, fmt.Errorf("LastModifiedDate %q is not a time like 2017-07-17T20:20:55.000Z", s)
		}
	}
	r.ETag, r.StorageClass = get(fETag), get(fStorageClass)
	r.Replication, r.Encryption = get(fReplicationStatus), get(fEncryptionStatus)
	r.BucketKey, r.Tier, r.Checksum = get(fBucketKeyStatus), get(fTier), get(fChecksumAlgorithm)
	r.LockMode, r.LegalHold = get(fLockMode), strings.EqualFold(get(fLegalHold), "ON")
	if s := get(fLockUntil); s != "" {
		if r.LockUntil, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return r, fmt.Errorf("ObjectLockRetainUntilDate %q is not a time like 2017-07-17T20:20:55.000Z", s)
		}
	}
	return r, nil
}

// csvBool reads true or false; empty is def.
func csvBool(s string, def bool) (bool, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}
