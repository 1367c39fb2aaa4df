package checkpoint

import (
	"context"
	"fmt"
	"time"
)

// Version is one listed source version (or delete marker).
type Version struct {
	Key          string
	VersionID    string
	Rank         int // 0 = newest version of the key in this listing
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	ETag         string
	LastModified time.Time
	StorageClass string
}

// scanBatch is how many listed versions go into one transaction: large
// enough that commits do not dominate a scan, small enough that a crash
// loses little (a rescan re-adds them anyway). A batch ends only at a key
// boundary, so that the versions of one key always land in the same scan
// and keep their order; maxScanBatch caps a single key with a huge history.
const (
	scanBatch    = 2000
	maxScanBatch = 200_000
)

// Scan records one listing of the source into the checkpoint.
type Scan struct {
	db     *DB
	dests  []string
	no     int64
	before int64
	seen   int64
	buf    []Version
}

// BeginScan starts a scan that records each listed version once for each
// destination bucket in dests. Versions already recorded are kept (with
// their plan and outcome); only their is-latest flag is refreshed.
func (db *DB) BeginScan(ctx context.Context, dests []string) (*Scan, error) {
	if len(dests) == 0 {
		return nil, fmt.Errorf("begin scan: no destination")
	}
	s := &Scan{db: db, dests: dests, buf: make([]Version, 0, scanBatch)}
	if err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions`).Scan(&s.before); err != nil {
		return nil, fmt.Errorf("begin scan: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO scans (started_at) VALUES (?)`, db.stamp())
	if err != nil {
		return nil, fmt.Errorf("begin scan: %w", err)
	}
	if s.no, err = res.LastInsertId(); err != nil {
		return nil, fmt.Errorf("begin scan: %w", err)
	}
	return s, nil
}

// Add buffers one version, writing a batch when the buffer is full and
// the listing has moved on to another key. Versions arrive in listing
// order: by key, newest first within a key.
func (s *Scan) Add(ctx context.Context, v Version) error {
	if n := len(s.buf); n >= maxScanBatch || (n >= scanBatch && s.buf[n-1].Key != v.Key) {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, v)
	s.seen++
	return nil
}

func (s *Scan) flush(ctx context.Context) error {
	if len(s.buf) == 0 {
		return nil
	}
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, upsertVersion)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer stmt.Close()
	now := s.db.stamp()
	for _, v := range s.buf {
		lm := ""
		if !v.LastModified.IsZero() {
			lm = v.LastModified.UTC().Format(time.RFC3339Nano)
		}
		for _, dest := range s.dests {
			if _, err := stmt.ExecContext(ctx, dest, v.Key, v.VersionID, s.no, v.Rank, v.IsLatest, v.DeleteMarker,
				v.Size, v.ETag, lm, v.StorageClass, now, now); err != nil {
				return fmt.Errorf("scan: record %s@%s: %w", v.Key, v.VersionID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	s.buf = s.buf[:0]
	return nil
}

// upsertVersion records a listed version. A version already known keeps
// its plan and outcome; only is-latest is refreshed. The exception is the
// "null" version: writing a key while versioning is off or suspended
// replaces it under the same id, so a "null" version whose ETag, size or
// time changed is a new object: it is reset to pending at its new place in
// the key's history, its old plan and outcome forgotten (a new plan is
// made before it is copied).
const upsertVersion = `
	INSERT INTO versions (dest, key, version_id, scan_no, rank, is_latest, delete_marker, size, etag,
	                      last_modified, storage_class, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (dest, key, version_id) DO UPDATE SET
		is_latest = excluded.is_latest,
		updated_at = excluded.updated_at,
		scan_no = CASE WHEN ` + nullReplaced + ` THEN excluded.scan_no ELSE scan_no END,
		rank = CASE WHEN ` + nullReplaced + ` THEN excluded.rank ELSE rank END,
		status = CASE WHEN ` + nullReplaced + ` THEN 'pending' ELSE status END,
		inspected = CASE WHEN ` + nullReplaced + ` THEN 0 ELSE inspected END,
		action = CASE WHEN ` + nullReplaced + ` THEN '' ELSE action END,
		attempts = CASE WHEN ` + nullReplaced + ` THEN 0 ELSE attempts END,
		dest_version_id = CASE WHEN ` + nullReplaced + ` THEN '' ELSE dest_version_id END,
		replica_etag = CASE WHEN ` + nullReplaced + ` THEN '' ELSE replica_etag END,
		etag_status = CASE WHEN ` + nullReplaced + ` THEN '' ELSE etag_status END,
		etag_reason = CASE WHEN ` + nullReplaced + ` THEN '' ELSE etag_reason END,
		checksum_status = CASE WHEN ` + nullReplaced + ` THEN '' ELSE checksum_status END,
		checksum_reason = CASE WHEN ` + nullReplaced + ` THEN '' ELSE checksum_reason END,
		verify_status = CASE WHEN ` + nullReplaced + ` THEN '' ELSE verify_status END,
		error_code = CASE WHEN ` + nullReplaced + ` THEN '' ELSE error_code END,
		message = CASE WHEN ` + nullReplaced + ` THEN '' ELSE message END,
		delete_marker = excluded.delete_marker, size = excluded.size, etag = excluded.etag,
		last_modified = excluded.last_modified, storage_class = excluded.storage_class
	WHERE is_latest != excluded.is_latest OR ` + nullReplaced

const nullReplaced = `(version_id = 'null' AND (etag != excluded.etag OR size != excluded.size
	OR last_modified != excluded.last_modified OR delete_marker != excluded.delete_marker))`

// ScanStats says what a scan found.
type ScanStats struct {
	Seen  int64 // versions listed
	Added int64 // rows new to the checkpoint (one per new version and destination)
}

// Finish writes what is buffered and closes the scan.
func (s *Scan) Finish(ctx context.Context) (ScanStats, error) {
	if err := s.flush(ctx); err != nil {
		return ScanStats{}, err
	}
	var after int64
	if err := s.db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions`).Scan(&after); err != nil {
		return ScanStats{}, fmt.Errorf("finish scan: %w", err)
	}
	st := ScanStats{Seen: s.seen, Added: after - s.before}
	if _, err := s.db.w.ExecContext(ctx, `UPDATE scans SET finished_at = ?, seen = ?, added = ? WHERE scan_no = ?`,
		s.db.stamp(), st.Seen, st.Added, s.no); err != nil {
		return ScanStats{}, fmt.Errorf("finish scan: %w", err)
	}
	return st, nil
}
