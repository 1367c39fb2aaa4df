package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// workRows selects the rows NextWork hands out. The partial index
// versions_work has exactly this WHERE (see 0001_init.sql): keep them equal
// (a test checks).
var workRows = workWhere("")

// workWhere is workRows for the columns of alias ("v." for versions v).
func workWhere(alias string) string {
	return alias + `status IN ('pending', 'copying', 'failed') AND ` + alias + `action IN ` + copyActions
}

// CountWork is the number and bytes of rows with a copy to do.
func (db *DB) CountWork(ctx context.Context) (rows, bytes int64, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM versions WHERE `+workRows).Scan(&rows, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count work: %w", err)
	}
	return rows, bytes, nil
}

// NextWork returns up to limit (destination, key) pairs after the cursor,
// in that order, that have rows to copy, each with all its rows.
func (db *DB) NextWork(ctx context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error) {
	krows, err := db.r.QueryContext(ctx, `SELECT DISTINCT dest, key FROM versions INDEXED BY versions_work
		WHERE `+workRows+` AND (dest, key) > (?, ?) ORDER BY dest, key LIMIT ?`,
		after.Dest, after.Key, limit)
	if err != nil {
		return nil, fmt.Errorf("read work: %w", err)
	}
	pairs, err := scanPairs(krows)
	if err != nil {
		return nil, fmt.Errorf("read work: %w", err)
	}
	return db.keysWork(ctx, db.r, pairs)
}

// keysWork is NextWork's answer for the (destination, key) pairs, read
// through c.
func (db *DB) keysWork(ctx context.Context, c *conn, pairs []any) ([]planner.KeyWork, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(pairs)/2), ", ")
	qrows, err := c.QueryContext(ctx, `SELECT `+db.rowColumns+`,
		EXISTS (SELECT 1 FROM uploads u WHERE u.row_id = versions.id)
		FROM versions WHERE (dest, key) IN (VALUES `+values+`) ORDER BY `+versionOrder, pairs...)
	if err != nil {
		return nil, fmt.Errorf("read work: %w", err)
	}
	var out []planner.KeyWork
	for qrows.Next() {
		var hasUpload bool
		r, err := scanRow(qrows, &hasUpload)
		if err != nil {
			qrows.Close()
			return nil, fmt.Errorf("read work: %w", err)
		}
		r.HasUpload = hasUpload
		if len(out) == 0 || out[len(out)-1].Key != r.Key || out[len(out)-1].Dest != r.Dest {
			out = append(out, planner.KeyWork{Dest: r.Dest, Key: r.Key})
		}
		kw := &out[len(out)-1]
		switch {
		case r.Status == planner.StatusSucceeded:
			if r.Replica.VersionID != "" {
				kw.Replicas = append(kw.Replicas, r.Replica.VersionID)
			}
		case r.Action.Copies() && (r.Status == planner.StatusPending || r.Status == planner.StatusCopying || r.Status == planner.StatusFailed):
			kw.Tasks = append(kw.Tasks, r.Task)
			kw.DestKey = r.DestKey
		}
	}
	qrows.Close()
	if err := qrows.Err(); err != nil {
		return nil, fmt.Errorf("read work: %w", err)
	}
	return out, nil
}

// Claim marks rows as being copied, durably, before any request for them
// is sent: after a crash the next run knows they are in doubt.
func (db *DB) Claim(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	now := db.stamp()
	args := make([]any, 0, len(ids)+2)
	args = append(args, now, now)
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := db.w.ExecContext(ctx, `UPDATE versions SET status = 'copying', attempts = attempts + 1,
		claimed_at = ?, updated_at = ? WHERE id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return fmt.Errorf("claim %d rows: %w", len(ids), err)
	}
	return nil
}

// Record queues an outcome for the batching writer, which commits a batch
// every recordDelay or every recordBatch outcomes. A batch lost in a crash
// leaves its rows "copying", which the next run reconciles against the
// destination, so batching never causes a second copy. Record returns the
// writer's error once a commit has failed: the run must stop, the
// checkpoint is still consistent. Safe for concurrent use.
func (db *DB) Record(o planner.Outcome) error {
	if err := db.leaseErr(); err != nil {
		return err
	}
	r := db.recorder()
	if err := r.Err(); err != nil {
		return err
	}
	r.in <- recorderOp{o: o}
	return nil
}

// Flush commits every outcome recorded so far; when it returns they are
// durable.
func (db *DB) Flush() error {
	return db.recorder().flush()
}

// recorder is the batching writer of outcomes, started on first use.
type recorder struct {
	db   *DB
	in   chan recorderOp
	done chan struct{}

	mu  sync.Mutex
	err error

	// lost is a test hook (see crash): outcomes not committed yet are
	// dropped, as a killed process loses them.
	lost atomic.Bool
}

type recorderOp struct {
	o     planner.Outcome
	flush chan error // non-nil: commit now and answer
}

const (
	// recordBatch and recordDelay bound what a crash can leave in doubt.
	recordBatch = 256
	recordDelay = 200 * time.Millisecond
)

func (db *DB) recorder() *recorder {
	db.recMu.Lock()
	defer db.recMu.Unlock()
	if db.rec == nil {
		db.rec = &recorder{db: db, in: make(chan recorderOp, recordBatch), done: make(chan struct{})}
		go db.rec.loop()
	}
	return db.rec
}

// stopRecorder flushes and stops the writer, if it was started.
func (db *DB) stopRecorder() error {
	db.recMu.Lock()
	r := db.rec
	db.rec = nil
	db.recMu.Unlock()
	if r == nil {
		return nil
	}
	close(r.in)
	<-r.done
	return r.Err()
}

// crash ends db as a killed process would, for tests: the outcomes the
// writer holds and has not committed are lost, the connections are closed
// and the job's lock is released. What was committed stays.
func (db *DB) crash() error {
	db.recMu.Lock()
	r := db.rec
	db.rec = nil
	db.recMu.Unlock()
	if r != nil {
		r.lost.Store(true)
		close(r.in)
		<-r.done
	}
	if db.wk != nil { // the heartbeat dies with the process; the leases stay until they run out
		close(db.wk.stop)
		<-db.wk.done
	}
	err := db.closePools()
	if db.lock != nil {
		err = errors.Join(err, db.lock.Close())
	}
	return err
}

func (r *recorder) flush() error {
	ch := make(chan error, 1)
	r.in <- recorderOp{flush: ch}
	return <-ch
}

// Err is the first commit error, if any.
func (r *recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recorder) loop() {
	defer close(r.done)
	var batch []planner.Outcome
	tick := time.NewTicker(r.db.batchDelay)
	defer tick.Stop()
	commit := func() {
		if len(batch) == 0 {
			return
		}
		if r.lost.Load() {
			batch = batch[:0]
			return
		}
		if err := r.db.saveOutcomes(batch); err != nil {
			r.mu.Lock()
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
		}
		batch = batch[:0]
	}
	for {
		select {
		case op, ok := <-r.in:
			if !ok {
				commit()
				return
			}
			if op.flush != nil {
				commit()
				op.flush <- r.Err()
				continue
			}
			batch = append(batch, op.o)
			if len(batch) >= recordBatch {
				commit()
			}
		case <-tick.C:
			commit()
		}
	}
}

// outcomeUpdate writes an outcome. A replica's encryption read back
// replaces the planned one; none read back keeps it.
var outcomeUpdate = rowUpdate{
	cols: []col{{"status", "TEXT"}, {"rversion", "TEXT"}, {"retag", "TEXT"}, {"etag_st", "TEXT"}, {"etag_why", "TEXT"},
		{"sum_st", "TEXT"}, {"sum_why", "TEXT"}, {"layout", "TEXT"}, {"renc", "TEXT"}, {"rkms", "TEXT"},
		{"sssec", "TEXT"}, {"rssec", "TEXT"}, {"code", "TEXT"}, {"http", "INTEGER"}, {"msg", "TEXT"}, {"now", "TEXT"}},
	set: `status = o.status, dest_version_id = o.rversion, replica_etag = o.retag, etag_status = o.etag_st,
		etag_reason = o.etag_why, checksum_status = o.sum_st, checksum_reason = o.sum_why, part_layout = o.layout,
		verify_status = '', verify_message = '',
		replica_encryption = CASE WHEN o.renc = '' THEN versions.replica_encryption ELSE o.renc END,
		replica_kms_key_id = CASE WHEN o.rkms = '' THEN versions.replica_kms_key_id ELSE o.rkms END,
		ssec_key_id = CASE WHEN o.sssec = '' THEN versions.ssec_key_id ELSE o.sssec END,
		replica_ssec_key_id = CASE WHEN o.rssec = '' THEN versions.replica_ssec_key_id ELSE o.rssec END,
		error_code = o.code, http_status = o.http, message = o.msg, updated_at = o.now, finished_at = o.now`,
}

// saveOutcomes runs on its own context: an interrupted run still records
// what finished.
func (db *DB) saveOutcomes(batch []planner.Outcome) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done, free, apply := db.settle(batch)
	now := db.stamp()
	rows := make([][]any, 0, len(batch))
	at := map[int64]int{} // a task's row: its last outcome in the batch wins
	for _, o := range batch {
		status, err := statusText(o.Status)
		if err != nil {
			return fmt.Errorf("record outcome of row %d: %w", o.TaskID, err)
		}
		r := o.Replica
		row := []any{o.TaskID, status, r.VersionID, r.ETag, r.ETagStatus, r.ETagReason, r.ChecksumStatus, r.ChecksumReason,
			r.PartLayout, string(r.Encryption), r.KMSKeyID, o.SSECKeyID, o.ReplicaSSECKeyID, o.ErrorCode, o.HTTPStatus, o.Message, now}
		if i, ok := at[o.TaskID]; ok {
			rows[i] = row
			continue
		}
		at[o.TaskID] = len(rows)
		rows = append(rows, row)
	}
	err := db.inTx(ctx, "record outcomes", func(tx *txn) error {
		if err := outcomeUpdate.exec(ctx, tx, rows); err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
		if err := db.finishKeys(ctx, tx, done, free); err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
		return nil
	})
	if err == nil {
		apply()
	}
	return err
}
