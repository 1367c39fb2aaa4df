package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/s3backfill/s3backfill/planner"
)

// SaveUpload records a new upload for a row (or the intent to start one,
// with an empty UploadID), replacing any other and its parts.
func (db *DB) SaveUpload(ctx context.Context, u planner.Upload) error {
	sizes, err := json.Marshal(u.PartSizes)
	if err != nil {
		return err
	}
	return db.inTx(ctx, "save upload", func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE row_id = ?)`, u.TaskID); err != nil {
			return fmt.Errorf("save upload: %w", err)
		}
		var id any // NULL for an intent
		if u.UploadID != "" {
			id = u.UploadID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO uploads (row_id, upload_id, bucket, key, fingerprint, part_sizes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (row_id) DO UPDATE SET upload_id = excluded.upload_id, bucket = excluded.bucket, key = excluded.key,
				fingerprint = excluded.fingerprint, part_sizes = excluded.part_sizes, created_at = excluded.created_at`, u.TaskID, id, u.Bucket, u.Key, u.Fingerprint, string(sizes), db.stamp()); err != nil {
			return fmt.Errorf("save upload %s: %w", u.UploadID, err)
		}
		return nil
	})
}

// SavePart records a copied part of an upload, durably: after a crash the
// next run copies only the parts not recorded (and confirmed by the server).
func (db *DB) SavePart(ctx context.Context, uploadID string, p planner.Part) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO upload_parts (upload_id, part_number, etag, checksum) VALUES (?, ?, ?, ?)
		ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = excluded.etag, checksum = excluded.checksum`,
		uploadID, p.Number, p.ETag, p.Checksum)
	if err != nil {
		return fmt.Errorf("save part %d of upload %s: %w", p.Number, uploadID, err)
	}
	return nil
}

// LoadUpload returns a row's unfinished upload with its recorded parts (or
// its intent to start one), or nil.
func (db *DB) LoadUpload(ctx context.Context, rowID int64) (*planner.Upload, error) {
	u := planner.Upload{TaskID: rowID}
	var (
		sizes, started string
		id             sql.NullString
	)
	err := db.r.QueryRowContext(ctx, `SELECT upload_id, bucket, key, fingerprint, part_sizes, created_at FROM uploads WHERE row_id = ?`, rowID).
		Scan(&id, &u.Bucket, &u.Key, &u.Fingerprint, &sizes, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load upload of row %d: %w", rowID, err)
	}
	if err := json.Unmarshal([]byte(sizes), &u.PartSizes); err != nil {
		return nil, fmt.Errorf("load upload of row %d: part sizes: %w", rowID, err)
	}
	if u.Started, err = parseStamp(started); err != nil {
		return nil, fmt.Errorf("load upload of row %d: %w", rowID, err)
	}
	u.UploadID = id.String
	if u.UploadID == "" {
		return &u, nil // an intent has no parts
	}
	rows, err := db.r.QueryContext(ctx, `SELECT part_number, etag, checksum FROM upload_parts WHERE upload_id = ? ORDER BY part_number`, u.UploadID)
	if err != nil {
		return nil, fmt.Errorf("load parts of upload %s: %w", u.UploadID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p planner.Part
		if err := rows.Scan(&p.Number, &p.ETag, &p.Checksum); err != nil {
			return nil, fmt.Errorf("load parts of upload %s: %w", u.UploadID, err)
		}
		u.Parts = append(u.Parts, p)
	}
	return &u, rows.Err()
}

// DropUpload forgets a row's upload (completed or aborted) and its parts,
// or its intent.
func (db *DB) DropUpload(ctx context.Context, rowID int64) error {
	return db.inTx(ctx, "drop upload", func(tx *txn) error {
		for _, q := range []string{`DELETE FROM upload_parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE row_id = ?)`,
			`DELETE FROM uploads WHERE row_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, rowID); err != nil {
				return fmt.Errorf("drop the upload of row %d: %w", rowID, err)
			}
		}
		return nil
	})
}

// Uploads lists every unfinished upload the job started, and every
// intent to start one.
func (db *DB) Uploads(ctx context.Context) ([]planner.Upload, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT row_id, upload_id, bucket, key, fingerprint, created_at FROM uploads ORDER BY bucket, key`)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	defer rows.Close()
	var out []planner.Upload
	for rows.Next() {
		var (
			u       planner.Upload
			id      sql.NullString
			started string
		)
		if err := rows.Scan(&u.TaskID, &id, &u.Bucket, &u.Key, &u.Fingerprint, &started); err != nil {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		if u.Started, err = parseStamp(started); err != nil {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		u.UploadID = id.String
		out = append(out, u)
	}
	return out, rows.Err()
}
