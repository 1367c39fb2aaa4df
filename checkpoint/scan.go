package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/s3backfill/s3backfill/planner"
)

// scanBatch is how many listed versions go into one transaction: large
// enough that commits do not dominate a scan, small enough that a crash
// loses little (a rescan re-adds them anyway). A batch ends only at a key
// boundary, so that the versions of one key always land in the same scan
// and keep their order; maxScanBatch caps a single key with a huge history.
const (
	scanBatch    = 2000
	maxScanBatch = 200_000
)

// Scan records one listing of the source into the checkpoint. Batches
// are written by a goroutine of their own, so that listing the next page
// and writing the last one overlap.
type Scan struct {
	db     *DB
	dests  []string
	no     int64
	before int64
	seen   int64
	buf    []planner.Version

	batches chan batch
	pending sync.WaitGroup // batches queued and not yet written
	// shard, for a shard of a sharded scan: each batch moves its cursor.
	shard   *shardRef
	done    chan struct{}
	mu      sync.Mutex
	err     error // the writer's first error
	stopped bool
}

// batch is versions written together; complete: its last key is whole (a
// key with more than maxScanBatch versions spans batches).
type batch struct {
	vs       []planner.Version
	complete bool
}

// RecordScan records one listing of the source: list calls add for every
// version and delete marker, in listing order (by key, newest first within
// a key), and each is recorded once for each destination bucket in dests.
// Versions already recorded keep their plan and outcome. The versions of a
// key are committed together; when list fails, the keys it added so far
// are kept (a rescan adds only the rest), except the last one, which may
// be incomplete, and its error is returned. Not safe for concurrent use
// with another scan. On PostgreSQL, a worker's first RecordScan is its
// pass's scan: made once, by the first worker to ask, while the others
// wait for it and get its counts (ScanStats.By); a second one lists again.
func (db *DB) RecordScan(ctx context.Context, dests []string, list func(add func(planner.Version) error) error) (planner.ScanStats, error) {
	if db.wk != nil && !db.wk.scanned {
		// The pass's listing, in one shard: the whole source.
		return db.RecordShardedScan(ctx, dests,
			func(context.Context) ([]planner.Shard, error) { return []planner.Shard{{All: true}}, nil },
			func(_ context.Context, _ planner.Shard, add func(planner.Version) error) error { return list(add) })
	}
	return db.recordScan(ctx, dests, list)
}

func (db *DB) recordScan(ctx context.Context, dests []string, list func(add func(planner.Version) error) error) (planner.ScanStats, error) {
	s, err := db.BeginScan(ctx, dests)
	if err != nil {
		return planner.ScanStats{}, err
	}
	if err := list(func(v planner.Version) error { return s.Add(ctx, v) }); err != nil {
		s.dropLastKey()
		return planner.ScanStats{}, errors.Join(err, s.Stop())
	}
	return s.Finish(ctx)
}

// BeginScan starts a scan that records each listed version once for each
// destination bucket in dests. Versions already recorded are kept (with
// their plan and outcome); only their is-latest flag is refreshed.
func (db *DB) BeginScan(ctx context.Context, dests []string) (*Scan, error) {
	if len(dests) == 0 {
		return nil, fmt.Errorf("begin scan: no destination")
	}
	s := &Scan{db: db, dests: dests, buf: make([]planner.Version, 0, scanBatch)}
	if err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions`).Scan(&s.before); err != nil {
		return nil, fmt.Errorf("begin scan: %w", err)
	}
	if err := db.w.QueryRowContext(ctx, `INSERT INTO scans (started_at) VALUES (?) RETURNING scan_no`, db.stamp()).Scan(&s.no); err != nil {
		return nil, fmt.Errorf("begin scan: %w", err)
	}
	s.start(ctx)
	return s, nil
}

// start starts the writer. Two batches may wait for it: the listing runs
// ahead by at most that much.
func (s *Scan) start(ctx context.Context) {
	s.batches, s.done = make(chan batch, 2), make(chan struct{})
	go s.writer(ctx)
}

func (s *Scan) writer(ctx context.Context) {
	defer close(s.done)
	for b := range s.batches {
		if s.writeErr() == nil {
			if err := s.write(ctx, b); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		} // else drain: the scan has failed
		s.pending.Done()
	}
}

func (s *Scan) writeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Add buffers one version, writing a batch when the buffer is full and
// the listing has moved on to another key. Versions arrive in listing
// order: by key, newest first within a key.
func (s *Scan) Add(ctx context.Context, v planner.Version) error {
	if n := len(s.buf); n >= maxScanBatch || (n >= scanBatch && s.buf[n-1].Key != v.Key) {
		if err := s.writeErr(); err != nil {
			return err
		}
		s.pending.Add(1)
		select {
		case s.batches <- batch{s.buf, s.buf[n-1].Key != v.Key}:
		case <-ctx.Done():
			s.pending.Done()
			return ctx.Err()
		}
		s.buf = make([]planner.Version, 0, scanBatch)
	}
	s.buf = append(s.buf, v)
	s.seen++
	return nil
}

// dropLastKey forgets the buffered versions of the last key listed: when a
// listing fails, that key's older versions may not have been listed, and
// recording its newer ones alone would put the older ones, found by the
// next scan, after them in the key's history. The next scan lists the
// whole key again. (A key with more than maxScanBatch versions may still
// be split.)
func (s *Scan) dropLastKey() {
	n := len(s.buf)
	for n > 0 && s.buf[n-1].Key == s.buf[len(s.buf)-1].Key {
		n--
	}
	s.buf = s.buf[:n]
}

// Stop writes what is buffered and ends the writer, without marking the
// scan finished: an interrupted listing keeps what it found.
func (s *Scan) Stop() error {
	if !s.stopped {
		s.stopped = true
		if len(s.buf) > 0 {
			s.pending.Add(1)
			s.batches <- batch{s.buf, true}
			s.buf = nil
		}
		close(s.batches)
	}
	<-s.done
	return s.writeErr()
}

// rowsPerInsert is how many rows one INSERT statement carries: the cost of
// a statement through database/sql and cgo is paid once per so many rows
// (insertColumns parameters each, below SQLite's limit of 32766).
const (
	rowsPerInsert = 64
	insertColumns = 23
)

// write records one batch in one transaction.
func (s *Scan) write(ctx context.Context, b batch) error {
	batch := b.vs
	if len(batch) == 0 {
		return nil
	}
	return s.db.inTx(ctx, "scan", func(tx *txn) error {
		now := s.db.stamp()
		args := make([]any, 0, rowsPerInsert*insertColumns)
		n := 0
		stmts := map[int]*sql.Stmt{}
		defer func() {
			for _, st := range stmts {
				st.Close()
			}
		}()
		flush := func() error {
			if n == 0 {
				return nil
			}
			st, ok := stmts[n]
			if !ok {
				var err error
				if st, err = tx.PrepareContext(ctx, upsertVersions(n)); err != nil {
					return err
				}
				stmts[n] = st
			}
			_, err := st.ExecContext(ctx, args...)
			args, n = args[:0], 0
			return err
		}
		for _, v := range batch {
			lm := formatStamp(v.LastModified)
			var k planner.Inspection
			if v.Known != nil {
				k = *v.Known
			}
			for _, dest := range s.dests {
				args = append(args, dest, v.Key, v.VersionID, s.no, v.Rank, v.IsLatest, v.DeleteMarker,
					v.Size, v.ETag, lm, v.StorageClass, now, now,
					k.Inspected, k.From, string(k.Encryption), k.BucketKey, k.ReplicationStatus, k.Checksum.Algorithm, k.Archived,
					k.Lock.Mode, formatStamp(k.Lock.RetainUntil), k.Lock.LegalHold)
				if n++; n == rowsPerInsert {
					if err := flush(); err != nil {
						return fmt.Errorf("scan: record versions up to %s@%s: %w", v.Key, v.VersionID, err)
					}
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("scan: record versions: %w", err)
		}
		if s.shard != nil {
			return s.shard.advance(ctx, tx, b)
		}
		return nil
	})
}

// upsertVersions is upsertVersion for n rows.
func upsertVersions(n int) string {
	return strings.Replace(upsertVersion, upsertValues,
		strings.TrimSuffix(strings.Repeat(upsertValues+", ", n), ", "), 1)
}

// upsertVersion records a listed version. A version already known keeps
// its plan and outcome; only is-latest is refreshed. The exception is the
// "null" version: writing a key while versioning is off or suspended
// replaces it under the same id, so a "null" version whose ETag, size or
// time changed is a new object: it starts over at its new place in the
// key's history as a version just listed (pending, unplanned, with what
// the scan knows of it), everything recorded of the old object forgotten. (The stored row's
// columns are named with the table's name: PostgreSQL finds a bare name
// ambiguous next to excluded's.)
var upsertVersion = `
	INSERT INTO versions (dest, key, version_id, scan_no, rank, is_latest, delete_marker, size, etag,
	                      last_modified, storage_class, created_at, updated_at,
	                      inspected, facts_from, source_encryption, bucket_key, replication_status,
	                      checksum_algorithm, archived, lock_mode, lock_until, legal_hold)
	VALUES ` + upsertValues + `
	ON CONFLICT (dest, key, version_id) DO UPDATE SET
		is_latest = excluded.is_latest,
		updated_at = excluded.updated_at,
		` + nullResetSQL() + `,
		` + factsSQL() + `,
		delete_marker = excluded.delete_marker, size = excluded.size, etag = excluded.etag,
		last_modified = excluded.last_modified, storage_class = excluded.storage_class
	WHERE versions.is_latest != excluded.is_latest OR ` + nullReplaced + ` OR ` + factsLearned

// nullResets are the columns a replaced "null" version sets, with their
// values: its place in the history, and the defaults of a new row for its
// plan, outcome and verification. (Its facts are the scan's: factColumns.)
var nullResets = [][2]string{
	{"scan_no", "excluded.scan_no"}, {"rank", "excluded.rank"},
	{"kms_key_id", "''"}, {"ssec_key_id", "''"},
	{"checksum", "''"}, {"checksum_type", "''"},
	{"action", "''"}, {"rule_id", "''"}, {"dest_key", "''"}, {"replica_encryption", "''"}, {"replica_kms_key_id", "''"},
	{"replica_ssec_key_id", "''"}, {"replica_storage_class", "''"}, {"replica_bucket_key", "FALSE"},
	{"status", "'pending'"}, {"attempts", "0"}, {"claimed_at", "''"}, {"finished_at", "''"},
	{"dest_version_id", "''"}, {"replica_etag", "''"}, {"etag_status", "''"}, {"etag_reason", "''"},
	{"checksum_status", "''"}, {"checksum_reason", "''"}, {"part_layout", "''"},
	{"error_code", "''"}, {"http_status", "0"}, {"message", "''"},
	{"verify_status", "''"}, {"verify_message", "''"}, {"verified_at", "''"},
}

// nullResetSQL is the SET list of nullResets, each only for a replaced
// "null" version.
func nullResetSQL() string {
	sets := make([]string, len(nullResets))
	for i, c := range nullResets {
		sets[i] = c[0] + " = CASE WHEN " + nullReplaced + " THEN " + c[1] + " ELSE versions." + c[0] + " END"
	}
	return strings.Join(sets, ",\n\t\t")
}

// factColumns are what a manifest may say of a version (a listing says
// none of it). A recorded version takes the scan's facts when it is a
// replaced "null" version, or when nothing was known of it yet; else it
// keeps what it has (a HEAD's facts are not overwritten by a manifest's).
var factColumns = []string{"inspected", "facts_from", "source_encryption", "bucket_key", "replication_status",
	"checksum_algorithm", "archived", "lock_mode", "lock_until", "legal_hold"}

// factsLearned: the scan knows facts of a version that had none.
const factsLearned = `(NOT versions.inspected AND excluded.inspected)`

func factsSQL() string {
	sets := make([]string, len(factColumns))
	for i, c := range factColumns {
		sets[i] = c + " = CASE WHEN " + nullReplaced + " OR " + factsLearned + " THEN excluded." + c + " ELSE versions." + c + " END"
	}
	return strings.Join(sets, ",\n\t\t")
}

const upsertValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const nullReplaced = `(versions.version_id = 'null' AND (versions.etag != excluded.etag OR versions.size != excluded.size
	OR versions.last_modified != excluded.last_modified OR versions.delete_marker != excluded.delete_marker))`

// Finish writes what is buffered and closes the scan.
func (s *Scan) Finish(ctx context.Context) (planner.ScanStats, error) {
	if err := s.Stop(); err != nil {
		return planner.ScanStats{}, err
	}
	var after int64
	if err := s.db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions`).Scan(&after); err != nil {
		return planner.ScanStats{}, fmt.Errorf("finish scan: %w", err)
	}
	st := planner.ScanStats{Seen: s.seen, Added: after - s.before}
	if _, err := s.db.w.ExecContext(ctx, `UPDATE scans SET finished_at = ?, seen = ?, added = ? WHERE scan_no = ?`,
		s.db.stamp(), st.Seen, st.Added, s.no); err != nil {
		return planner.ScanStats{}, fmt.Errorf("finish scan: %w", err)
	}
	return st, nil
}
