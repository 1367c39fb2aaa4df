package checkpoint

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/s3backfill/s3backfill/planner"
)

// rowColumns are the columns scanRow reads, as the current schema has
// them; db.rowColumns is what a database opened read-only, maybe written by
// an older version, selects instead (see readColumns).
const rowColumns = `id, dest, key, version_id, is_latest, delete_marker, size, etag, last_modified, storage_class,
	inspected, facts_from, source_encryption, kms_key_id, ssec_key_id, bucket_key, replication_status,
	checksum_algorithm, checksum, checksum_type, archived, lock_mode, lock_until, legal_hold,
	action, rule_id, dest_key, replica_encryption, replica_kms_key_id, replica_ssec_key_id, replica_storage_class, replica_bucket_key,
	status, claimed_at, attempts, dest_version_id, replica_etag, etag_status, etag_reason,
	checksum_status, checksum_reason, part_layout, error_code, http_status, message, verify_status, verify_message`

// versionOrder sorts rows by destination and key, oldest version first.
const versionOrder = `dest, key, scan_no, rank DESC`

// scanRow reads rowColumns, then any extra columns into extra.
func scanRow(s interface{ Scan(...any) error }, extra ...any) (planner.Row, error) {
	var (
		r                                       planner.Row
		lastModified, claimedAt, status, action string
		lockUntil                               string
		sourceEnc, replicaEnc                   string
	)
	dest := []any{&r.ID, &r.Dest, &r.Key, &r.VersionID, &r.IsLatest, &r.DeleteMarker, &r.Size, &r.ETag, &lastModified, &r.StorageClass,
		&r.Inspected, &r.From, &sourceEnc, &r.KMSKeyID, &r.SSECKeyID, &r.BucketKey, &r.ReplicationStatus,
		&r.Checksum.Algorithm, &r.Checksum.Value, &r.Checksum.Type, &r.Archived, &r.Lock.Mode, &lockUntil, &r.Lock.LegalHold,
		&action, &r.RuleID, &r.DestKey, &replicaEnc, &r.ReplicaKMSKeyID, &r.ReplicaSSECKeyID, &r.ReplicaStorageClass, &r.ReplicaBucketKey,
		&status, &claimedAt, &r.Attempts, &r.Replica.VersionID, &r.Replica.ETag, &r.Replica.ETagStatus, &r.Replica.ETagReason,
		&r.Replica.ChecksumStatus, &r.Replica.ChecksumReason, &r.Replica.PartLayout, &r.ErrorCode, &r.HTTPStatus, &r.Message,
		&r.Verify.Status, &r.Verify.Message}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return r, err
	}
	var err error
	if r.LastModified, err = parseStamp(lastModified); err != nil {
		return r, fmt.Errorf("row %d: last_modified: %w", r.ID, err)
	}
	if r.Lock.RetainUntil, err = parseStamp(lockUntil); err != nil {
		return r, fmt.Errorf("row %d: lock_until: %w", r.ID, err)
	}
	if r.ClaimedAt, err = parseStamp(claimedAt); err != nil {
		return r, fmt.Errorf("row %d: claimed_at: %w", r.ID, err)
	}
	if r.Status, err = statusOf(status); err != nil {
		return r, fmt.Errorf("row %d: %w", r.ID, err)
	}
	if r.Action, err = actionOf(action); err != nil {
		return r, fmt.Errorf("row %d: %w", r.ID, err)
	}
	r.Encryption = planner.Encryption(sourceEnc)
	r.ReplicaEncryption = planner.Encryption(replicaEnc)
	if r.Status == planner.StatusSucceeded {
		// The outcome writes the replica's encryption as read back over
		// the planned one: a succeeded row holds what was made.
		r.Replica.Encryption, r.Replica.KMSKeyID = r.ReplicaEncryption, r.ReplicaKMSKeyID
	}
	r.Verify.TaskID = r.ID
	return r, nil
}

func collect(rows *sql.Rows, err error) ([]planner.Row, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []planner.Row
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
func (db *DB) EachRow(ctx context.Context, status planner.Status, fn func(planner.Row) error) error {
	const keysPerPage = 500
	keys := `SELECT DISTINCT dest, key FROM versions WHERE (dest, key) > (?, ?) ORDER BY dest, key LIMIT ?`
	rowsOf := `SELECT ` + db.rowColumns + ` FROM versions WHERE (dest, key) IN (` + keys + `) ORDER BY ` + versionOrder
	args := func(d, k string) []any { return []any{d, k, keysPerPage} }
	if status != "" {
		keys = `SELECT DISTINCT dest, key FROM versions WHERE status = ? AND (dest, key) > (?, ?) ORDER BY dest, key LIMIT ?`
		rowsOf = `SELECT ` + db.rowColumns + ` FROM versions WHERE status = ? AND (dest, key) IN (` + keys + `) ORDER BY ` + versionOrder
		st, err := statusText(status)
		if err != nil {
			return err
		}
		args = func(d, k string) []any { return []any{st, st, d, k, keysPerPage} }
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

// Counts groups all rows by destination, status, action and source
// encryption.
func (db *DB) Counts(ctx context.Context) ([]planner.Count, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT dest, status, action,
		       CASE WHEN delete_marker THEN 'DELETE-MARKER'
		            WHEN source_encryption = '' THEN 'UNINSPECTED'
		            ELSE source_encryption END AS enc,
		       COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT)
		FROM versions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	defer rows.Close()
	var out []planner.Count
	for rows.Next() {
		var (
			c              planner.Count
			status, action string
		)
		if err := rows.Scan(&c.Dest, &status, &action, &c.Encryption, &c.Rows, &c.Bytes); err != nil {
			return nil, fmt.Errorf("count rows: %w", err)
		}
		if c.Status, err = statusOf(status); err != nil {
			return nil, fmt.Errorf("count rows: %w", err)
		}
		if c.Action, err = actionOf(action); err != nil {
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

// SaveVerifications records verify results in one transaction.
func (db *DB) SaveVerifications(ctx context.Context, vs []planner.Verification) error {
	if len(vs) == 0 {
		return nil
	}
	return db.inTx(ctx, "save verifications", func(tx *txn) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE versions SET verify_status = ?, verify_message = ?, verified_at = ? WHERE id = ?`)
		if err != nil {
			return fmt.Errorf("save verifications: %w", err)
		}
		defer stmt.Close()
		now := db.stamp()
		for _, v := range vs {
			if _, err := stmt.ExecContext(ctx, v.Status, v.Message, now, v.TaskID); err != nil {
				return fmt.Errorf("save verification of row %d: %w", v.TaskID, err)
			}
		}
		return nil
	})
}
