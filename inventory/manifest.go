package inventory

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A manifest is a list of the source's versions that someone else made:
// an S3 Inventory report (a manifest.json naming CSV or Parquet data
// files), or an S3 Batch Operations CSV manifest (bucket,key[,versionId]).
// A scan reads one instead of listing the bucket.

// BadManifest is a manifest that cannot be read as one: not a manifest,
// damaged, incomplete or of another bucket. Reading it again fails the
// same way: the user must fix it or name another.
type BadManifest struct{ Err error }

func (e *BadManifest) Error() string { return e.Err.Error() }
func (e *BadManifest) Unwrap() error { return e.Err }

func badf(format string, args ...any) error { return &BadManifest{fmt.Errorf(format, args...)} }

// Manifest formats.
const (
	FormatInventoryCSV     = "CSV"
	FormatInventoryParquet = "Parquet"
	FormatBatchCSV         = "batch-csv"
)

// ObjectGetter reads manifest files from S3: *s3.Client satisfies it.
type ObjectGetter interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Files opens manifest files: local paths, or s3://bucket/key objects
// through S3 (nil: local paths only).
type Files struct{ S3 ObjectGetter }

// Manifest is a manifest read and checked, its data files not yet.
type Manifest struct {
	Location string // as given: a path or s3://bucket/key
	// ETag identifies the manifest file's content: its S3 ETag, or the
	// MD5 of a local file. A scan records it: the same manifest is loaded
	// once.
	ETag   string
	Format string // FormatInventoryCSV, FormatInventoryParquet or FormatBatchCSV
	// Bucket is the bucket an inventory lists (its sourceBucket); a Batch
	// Operations manifest names one per line, checked as it is read.
	Bucket string

	schema columns   // inventory: where each field is (a CSV's by position, Parquet's by name)
	files  []dataRef // inventory: its data files
	fs     Files
}

// dataRef is one data file of an inventory, as manifest.json names it.
type dataRef struct {
	loc  string // where it is read from
	name string // its key, for messages
	size int64
	md5  string // hex
}

// inventoryJSON is manifest.json as S3 Inventory writes it.
type inventoryJSON struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"` // arn:aws:s3:::name
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5checksum string `json:"MD5checksum"`
	} `json:"files"`
}

// maxManifestJSON bounds the manifest.json read into memory (S3 writes a
// few hundred bytes per data file).
const maxManifestJSON = 64 << 20

// ReadManifest reads the manifest at loc: a manifest.json of an S3
// Inventory report (a name ending in .json), else a Batch Operations CSV.
// Errors name the file and say what is wrong.
func ReadManifest(ctx context.Context, fs Files, loc string) (*Manifest, error) {
	if !strings.HasSuffix(strings.ToLower(loc), ".json") {
		etag, err := fs.identity(ctx, loc)
		if err != nil {
			return nil, err
		}
		return &Manifest{Location: loc, ETag: etag, Format: FormatBatchCSV, schema: noColumns(), fs: fs}, nil
	}
	body, etag, err := fs.readAll(ctx, loc, maxManifestJSON)
	if err != nil {
		return nil, err
	}
	var j inventoryJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, badf("manifest %s: not an S3 Inventory manifest.json: %v", loc, err)
	}
	m := &Manifest{Location: loc, ETag: etag, Bucket: j.SourceBucket, fs: fs}
	switch {
	case j.SourceBucket == "":
		return nil, badf("manifest %s: no sourceBucket: is this an S3 Inventory manifest.json?", loc)
	case strings.EqualFold(j.FileFormat, "ORC"):
		return nil, badf("manifest %s: ORC inventories are not supported: configure the inventory as CSV or Parquet", loc)
	case strings.EqualFold(j.FileFormat, FormatInventoryCSV):
		m.Format = FormatInventoryCSV
	case strings.EqualFold(j.FileFormat, FormatInventoryParquet):
		m.Format = FormatInventoryParquet
	default:
		return nil, badf("manifest %s: fileFormat %q: want CSV or Parquet", loc, j.FileFormat)
	}
	if m.schema, err = parseSchema(m.Format, j.FileSchema); err != nil {
		return nil, badf("manifest %s: fileSchema: %w", loc, err)
	}
	if len(j.Files) == 0 {
		return nil, badf("manifest %s: names no data files", loc)
	}
	for i, f := range j.Files {
		if f.Key == "" || f.MD5checksum == "" {
			return nil, badf("manifest %s: files[%d] has no key or no MD5checksum", loc, i)
		}
		where, err := dataLocation(loc, j.DestinationBucket, f.Key)
		if err != nil {
			return nil, badf("manifest %s: files[%d]: %w", loc, i, err)
		}
		m.files = append(m.files, dataRef{loc: where, name: f.Key, size: f.Size, md5: strings.ToLower(f.MD5checksum)})
	}
	return m, nil
}

// AllVersions reports whether the manifest names versions (an "All
// versions" inventory); else it names keys, and only their current
// versions are copied. A Batch Operations CSV says so line by line.
func (m *Manifest) AllVersions() bool {
	return m.Format == FormatBatchCSV || m.schema.has(fVersionID)
}

// dataLocation is where a data file named by a manifest is read: in S3,
// the inventory's destination bucket (or the manifest's own); on disk,
// the key under the nearest folder above the manifest that has it (a
// report synced whole), else the file's base name next to the manifest.
func dataLocation(manifest, destARN, key string) (string, error) {
	if rest, ok := strings.CutPrefix(manifest, "s3://"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		if name, ok := strings.CutPrefix(destARN, "arn:aws:s3:::"); ok && name != "" {
			bucket = name
		}
		return "s3://" + bucket + "/" + key, nil
	}
	dir := filepath.Dir(manifest)
	for d := dir; ; d = filepath.Dir(d) {
		if p := filepath.Join(d, filepath.FromSlash(key)); fileExists(p) {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p := filepath.Join(dir, filepath.Base(key)); fileExists(p) {
		return p, nil
	}
	return "", fmt.Errorf("data file %s not found under %s or its parent folders", key, dir)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// splitS3 splits s3://bucket/key.
func splitS3(loc string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, bucket != "" && key != ""
}

// open opens a manifest file for reading.
func (fs Files) open(ctx context.Context, loc string) (io.ReadCloser, error) {
	if strings.HasPrefix(loc, "s3://") {
		bucket, key, ok := splitS3(loc)
		if !ok {
			return nil, badf("manifest location %q: want s3://BUCKET/KEY or a local path", loc)
		}
		if fs.S3 == nil {
			return nil, fmt.Errorf("%s: no S3 client to read it with", loc)
		}
		out, err := fs.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", loc, err)
		}
		return out.Body, nil
	}
	f, err := os.Open(loc)
	if err != nil {
		return nil, badf("read manifest file: %w", err)
	}
	return f, nil
}

// identity is what names a manifest file's content: its S3 ETag, or the
// MD5 of a local file.
func (fs Files) identity(ctx context.Context, loc string) (string, error) {
	if bucket, key, ok := splitS3(loc); ok && fs.S3 != nil {
		out, err := fs.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return "", fmt.Errorf("read %s: %w", loc, err)
		}
		return strings.Trim(aws.ToString(out.ETag), `"`), nil
	}
	r, err := fs.open(ctx, loc)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("read %s: %w", loc, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readAll reads a small file whole, with its identity.
func (fs Files) readAll(ctx context.Context, loc string, limit int64) ([]byte, string, error) {
	r, err := fs.open(ctx, loc)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", loc, err)
	}
	if int64(len(body)) > limit {
		return nil, "", badf("read %s: larger than %d MiB: is this a manifest.json?", loc, limit>>20)
	}
	sum := md5.Sum(body)
	return body, hex.EncodeToString(sum[:]), nil
}

// fetch copies a data file into dir, checking its MD5 against the
// manifest's, and returns the local copy's path.
func (fs Files) fetch(ctx context.Context, f dataRef, dir string) (string, error) {
	r, err := fs.open(ctx, f.loc)
	if err != nil {
		return "", fmt.Errorf("data file %s: %w", f.name, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(dir, "data-*")
	if err != nil {
		return "", err
	}
	h := md5.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if err = errors.Join(err, tmp.Close()); err != nil {
		return "", fmt.Errorf("data file %s: %w", f.name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.md5 {
		return "", badf("data file %s: MD5 %s does not match the manifest's MD5checksum %s: the file is damaged or from another report", f.name, got, f.md5)
	}
	return tmp.Name(), nil
}
