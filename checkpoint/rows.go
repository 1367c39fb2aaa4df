package checkpoint

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Statuses of a version row.
const (
	StatusPending   = "pending"
	StatusCopying   = "copying" // claimed by a run; after a crash, in doubt
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// Inspection is what a HEAD of the source version told.
type Inspection struct {
	Inspected         bool
	SourceEncryption  string
	KMSKeyID          string
	SSECKeyID         string
	BucketKey         bool
	ReplicationStatus string
	ChecksumAlgorithm string
	Checksum          string
	ChecksumType      string
	Archived          bool
}

// Decision is what the planner decided for a row: what to do, under which
// rule, and the replica's key, encryption and storage class.
type Decision struct {
	Action              string
	RuleID              string
	DestKey             string
	ReplicaEncryption   string
	ReplicaKMSKeyID     string
	ReplicaSSECKeyID    string
	ReplicaStorageClass string
}

// Row is one version with its plan and outcome.
type Row struct {
	ID           int64
	Dest         string // destination bucket
	Key          string
	VersionID    string
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	ETag         string
	LastModified string
	StorageClass string

	Inspection

	Decision

	Status         string
	ClaimedAt      string // when a copy run last claimed the row (RFC 3339)
	Attempts       int
	DestVersionID  string
	ReplicaETag    string
	ETagStatus     string
	ETagReason     string
	ChecksumStatus string
	ChecksumReason string
	PartLayout     string
	ErrorCode      string
	HTTPStatus     int
	Message        string

	VerifyStatus  string
	VerifyMessage string

	// HasUpload: an unfinished multipart upload is recorded for the row
	// (filled by NextWork only).
	HasUpload bool
}

const rowColumns = `id, dest, key, version_id, is_latest, delete_marker, size, etag, last_modified, storage_class,
	inspected, source_encryption, kms_key_id, ssec_key_id, bucket_key, replication_status,
	checksum_algorithm, checksum, checksum_type, archived,
	action, rule_id, dest_key, replica_encryption, replica_kms_key_id, replica_ssec_key_id, replica_storage_class,
	status, claimed_at, attempts, dest_version_id, replica_etag, etag_status, etag_reason,
	checksum_status, checksum_reason, part_layout, error_code, http_status, message, verify_status, verify_message`

// versionOrder sorts rows by destination and key, oldest version first.
const versionOrder = `dest, key, scan_no, rank DESC`

// scanRow reads rowColumns, then any extra columns into extra.
func scanRow(s interface{ Scan(...any) error }, extra ...any) (Row, error) {
	var r Row
	dest := []any{&r.ID, &r.Dest, &r.Key, &r.VersionID, &r.IsLatest, &r.DeleteMarker, &r.Size, &r.ETag, &r.LastModified, &r.StorageClass,
		&r.Inspected, &r.SourceEncryption, &r.KMSKeyID, &r.SSECKeyID, &r.BucketKey, &r.ReplicationStatus,
		&r.ChecksumAlgorithm, &r.Checksum, &r.ChecksumType, &r.Archived,
		&r.Action, &r.RuleID, &r.DestKey, &r.ReplicaEncryption, &r.ReplicaKMSKeyID, &r.ReplicaSSECKeyID, &r.ReplicaStorageClass,
		&r.Status, &r.ClaimedAt, &r.Attempts, &r.DestVersionID, &r.ReplicaETag, &r.ETagStatus, &r.ETagReason,
		&r.ChecksumStatus, &r.ChecksumReason, &r.PartLayout, &r.ErrorCode, &r.HTTPStatus, &r.Message, &r.VerifyStatus, &r.VerifyMessage}
	err := s.Scan(append(dest, extra...)...)
	return r, err
}

func collect(rows *sql.Rows, err error) ([]Row, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// EachRow calls fn for every row, by destination, key and oldest version
// first; with a status, only the rows in it. It pages through the table a
// few hundred keys at a time (keyset paging on the indexes, so a page costs
// the same at the end of a large job as at its start), so that no read
// transaction stays open for long.
func (db *DB) EachRow(ctx context.Context, status string, fn func(Row) error) error {
	const keysPerPage = 500
	keys := `SELECT DISTINCT dest, key FROM versions WHERE (dest, key) > (?, ?) ORDER BY dest, key LIMIT ?`
	rowsOf := `SELECT ` + rowColumns + ` FROM versions WHERE (dest, key) IN (` + keys + `) ORDER BY ` + versionOrder
	args := func(d, k string) []any { return []any{d, k, keysPerPage} }
	if status != "" {
		keys = `SELECT DISTINCT dest, key FROM versions WHERE status = ? AND (dest, key) > (?, ?) ORDER BY dest, key LIMIT ?`
		rowsOf = `SELECT ` + rowColumns + ` FROM versions WHERE status = ? AND (dest, key) IN (` + keys + `) ORDER BY ` + versionOrder
		args = func(d, k string) []any { return []any{status, status, d, k, keysPerPage} }
	}
	lastDest, lastKey := "", ""
	for {
		page, err := collect(db.r.QueryContext(ctx, rowsOf, args(lastDest, lastKey)...))
		if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		lastDest, lastKey = page[len(page)-1].Dest, page[len(page)-1].Key
	}
}

// Count is the number and bytes of rows with one status, planned action
// and source encryption.
type Count struct {
	Dest       string
	Status     string
	Action     string // empty until planned
	Encryption string // source encryption; "DELETE-MARKER" or "UNINSPECTED" where there is none
	Rows       int64
	Bytes      int64
}

// Counts groups all rows by destination, status, action and source
// encryption.
func (db *DB) Counts(ctx context.Context) ([]Count, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT dest, status, action,
		       CASE WHEN delete_marker THEN 'DELETE-MARKER'
		            WHEN source_encryption = '' THEN 'UNINSPECTED'
		            ELSE source_encryption END AS enc,
		       COUNT(*), COALESCE(SUM(size), 0)
		FROM versions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Dest, &c.Status, &c.Action, &c.Encryption, &c.Rows, &c.Bytes); err != nil {
			return nil, fmt.Errorf("count rows: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Verification is what a verify found for one replicated row.
type Verification struct {
	ID      int64
	Status  string // ok or mismatch
	Message string
}

// SaveVerifications records verify results in one transaction.
func (db *DB) SaveVerifications(ctx context.Context, vs []Verification) error {
	if len(vs) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save verifications: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE versions SET verify_status = ?, verify_message = ?, verified_at = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("save verifications: %w", err)
	}
	defer stmt.Close()
	now := db.stamp()
	for _, v := range vs {
		if _, err := stmt.ExecContext(ctx, v.Status, v.Message, now, v.ID); err != nil {
			return fmt.Errorf("save verification of row %d: %w", v.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save verifications: %w", err)
	}
	return nil
}
