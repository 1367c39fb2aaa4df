package inventory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetKinds are the physical types an inventory's Parquet columns
// have: text as BYTE_ARRAY, flags as BOOLEAN, the size as INT64 and the
// time as INT64 with a TIMESTAMP logical type.
var parquetKinds = [nFields]parquet.Kind{
	fBucket: parquet.ByteArray, fKey: parquet.ByteArray, fVersionID: parquet.ByteArray,
	fIsLatest: parquet.Boolean, fIsDeleteMarker: parquet.Boolean, fSize: parquet.Int64,
	fLastModified: parquet.Int64, fETag: parquet.ByteArray, fStorageClass: parquet.ByteArray,
	fReplicationStatus: parquet.ByteArray, fEncryptionStatus: parquet.ByteArray,
	fBucketKeyStatus: parquet.ByteArray, fTier: parquet.ByteArray, fChecksumAlgorithm: parquet.ByteArray,
	fLockMode: parquet.ByteArray, fLockUntil: parquet.Int64, fLegalHold: parquet.ByteArray,
}

// parquetRowsPerRead is how many rows are decoded at a time.
const parquetRowsPerRead = 1024

// readParquet reads one Parquet data file of an inventory: each field by
// its column's name, checked against the type S3 writes it with.
func readParquet(path, name string, c columns, fn func(record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return badf("data file %s: not a Parquet file: %v", name, err)
	}
	// colField maps a leaf column's index to the field it holds.
	colField := map[int]field{}
	units := map[field]time.Duration{} // of the timestamp columns
	for fl := field(0); fl < nFields; fl++ {
		if !c.has(fl) {
			continue
		}
		leaf, ok := pf.Schema().Lookup(c.name[fl])
		if !ok {
			return badf("data file %s: no column %s, which the manifest's fileSchema names", name, c.name[fl])
		}
		if got := leaf.Node.Type().Kind(); got != parquetKinds[fl] {
			return badf("data file %s: column %s is %s; S3 Inventory writes it as %s", name, c.name[fl], got, parquetKinds[fl])
		}
		if fl == fLastModified || fl == fLockUntil {
			var ts *format.TimestampType
			if lt := leaf.Node.Type().LogicalType(); lt != nil {
				ts, _ = lt.Value.(*format.TimestampType)
			}
			if ts == nil || ts.Unit.Value == nil {
				return badf("data file %s: column %s is not a TIMESTAMP", name, c.name[fl])
			}
			units[fl] = ts.Unit.Value.Duration()
		}
		colField[leaf.ColumnIndex] = fl
	}
	var seen int64
	buf := make([]parquet.Row, parquetRowsPerRead)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				seen++
				r, err := parquetRecord(row, colField, c, units)
				if err != nil {
					rows.Close()
					return badf("data file %s row %d: %v", name, seen, err)
				}
				if err := fn(r); err != nil {
					rows.Close()
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return badf("data file %s row %d: %v", name, seen+1, err)
			}
		}
		if err := rows.Close(); err != nil {
			return badf("data file %s: %v", name, err)
		}
	}
	return nil
}

// parquetRecord reads one row.
func parquetRecord(row parquet.Row, colField map[int]field, c columns, units map[field]time.Duration) (record, error) {
	r := record{IsLatest: !c.has(fVersionID)}
	for _, v := range row {
		fl, ok := colField[v.Column()]
		if !ok || v.IsNull() {
			continue
		}
		switch fl {
		case fKey:
			r.Key = string(v.ByteArray()) // Parquet keys are not URL-encoded
		case fVersionID:
			r.VersionID = string(v.ByteArray())
		case fIsLatest:
			r.IsLatest = v.Boolean()
		case fIsDeleteMarker:
			r.DeleteMarker = v.Boolean()
		case fSize:
			r.Size = v.Int64()
		case fLastModified:
			r.LastModified = time.Unix(0, v.Int64()*int64(units[fl])).UTC()
		case fETag:
			r.ETag = string(v.ByteArray())
		case fStorageClass:
			r.StorageClass = string(v.ByteArray())
		case fReplicationStatus:
			r.Replication = string(v.ByteArray())
		case fEncryptionStatus:
			r.Encryption = string(v.ByteArray())
		case fBucketKeyStatus:
			r.BucketKey = string(v.ByteArray())
		case fTier:
			r.Tier = string(v.ByteArray())
		case fChecksumAlgorithm:
			r.Checksum = string(v.ByteArray())
		case fLockMode:
			r.LockMode = string(v.ByteArray())
		case fLockUntil:
			r.LockUntil = time.Unix(0, v.Int64()*int64(units[fl])).UTC()
		case fLegalHold:
			r.LegalHold = strings.EqualFold(string(v.ByteArray()), "ON")
		}
	}
	if r.Key == "" {
		return r, fmt.Errorf("no key")
	}
	if r.Size < 0 {
		return r, fmt.Errorf("size %d is not a byte count", r.Size)
	}
	if c.has(fVersionID) && r.VersionID == "" {
		r.VersionID = "null"
	}
	return r, nil
}
