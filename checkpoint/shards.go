package checkpoint

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/s3backfill/s3backfill/planner"
)

// RecordShardedScan records one listing of the source made of shards.
// list lists one shard, calling add for each version in listing order.
//
// A store one process holds lists the whole source at once (list with
// Shard{All: true}), as RecordScan. On PostgreSQL a worker's first call is
// its pass's listing, made once between the workers: the first to ask
// calls split, which names the shards; then each shard is listed by one
// worker, every batch it commits moving the shard's cursor, so that a
// shard whose worker is gone is listed again from there (Shard.After) by
// another. It returns when every shard of the pass is listed, with the
// pass's counts. A second call lists the whole source again.
func (db *DB) RecordShardedScan(ctx context.Context, dests []string,
	split func(context.Context) ([]planner.Shard, error),
	list func(context.Context, planner.Shard, func(planner.Version) error) error) (planner.ScanStats, error) {
	whole := func() (planner.ScanStats, error) {
		return db.recordScan(ctx, dests, func(add func(planner.Version) error) error {
			return list(ctx, planner.Shard{All: true}, add)
		})
	}
	if db.wk == nil || db.wk.scanned {
		return whole()
	}
	db.wk.scanned = true
	w := db.wk
	listed := false
	for {
		var (
			state, scanner string
			live           bool
			scanNo         sql.NullInt64
		)
		err := db.inTx(ctx, "take the scan", func(tx *txn) error {
			if err := tx.QueryRowContext(ctx, `SELECT scan_state, scanner, COALESCE(scan_expires > now(), FALSE), scan_no
				FROM passes WHERE pass = ? FOR UPDATE`, w.pass).Scan(&state, &scanner, &live, &scanNo); err != nil {
				return err
			}
			if state != "" && (state != "scanning" || live) {
				return nil
			}
			state = "split"
			_, err := tx.ExecContext(ctx, `UPDATE passes SET scan_state = 'scanning', scanner = ?,
				scan_expires = now() + make_interval(secs => ?) WHERE pass = ?`, w.id, seconds(w.lease), w.pass)
			return err
		})
		if err != nil {
			return planner.ScanStats{}, db.pgErr("take the scan", err)
		}
		switch state {
		case "done":
			return db.passScan(ctx, listed)
		case "split":
			if err := db.splitScan(ctx, split); err != nil {
				return planner.ScanStats{}, err
			}
			continue
		case "listing":
			sh, no, err := db.claimShard(ctx)
			if err != nil {
				return planner.ScanStats{}, err
			}
			if sh != nil {
				if err := db.listShard(ctx, dests, scanNo.Int64, no, *sh, list); err != nil {
					return planner.ScanStats{}, err
				}
				listed = true
				continue
			}
			if done, err := db.finishShards(ctx); err != nil {
				return planner.ScanStats{}, err
			} else if done {
				continue
			}
		}
		// Split or listed by others: wait for them.
		if err := db.waitPoll(ctx); err != nil {
			return planner.ScanStats{}, err
		}
	}
}

// splitScan names the pass's shards and makes its scan.
func (db *DB) splitScan(ctx context.Context, split func(context.Context) ([]planner.Shard, error)) error {
	w := db.wk
	shards, err := split(ctx)
	if err != nil {
		// Another worker may try: the pass's scan is free again.
		_, uerr := db.w.ExecContext(context.WithoutCancel(ctx), `UPDATE passes SET scan_state = '', scanner = ''
			WHERE pass = ? AND scanner = ?`, w.pass, w.id)
		if uerr != nil {
			return fmt.Errorf("%w (and freeing the scan: %v)", err, uerr)
		}
		return err
	}
	if len(shards) == 0 {
		shards = []planner.Shard{{All: true}}
	}
	return db.inTx(ctx, "split the scan", func(tx *txn) error {
		var no int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO scans (started_at) VALUES (?) RETURNING scan_no`, db.stamp()).Scan(&no); err != nil {
			return err
		}
		for i, sh := range shards {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scan_shards (pass, no, prefix, direct, all_keys) VALUES (?, ?, ?, ?, ?)`,
				w.pass, i, sh.Prefix, sh.Direct, sh.All); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE passes SET scan_state = 'listing', scan_no = ?, scanner = ''
			WHERE pass = ? AND scanner = ? AND scan_state = 'scanning'`, no, w.pass, w.id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("another worker took the scan over (this one's lease ran out)")
		}
		return nil
	})
}

// claimShard takes a shard nobody lists (or whose worker is gone).
func (db *DB) claimShard(ctx context.Context) (*planner.Shard, int, error) {
	w := db.wk
	var (
		sh planner.Shard
		no int
	)
	err := db.w.QueryRowContext(ctx, `UPDATE scan_shards s SET state = 'listing', worker = ?, expires_at = now() + make_interval(secs => ?)
		FROM (SELECT pass, no FROM scan_shards WHERE pass = ? AND (state = '' OR (state = 'listing' AND expires_at <= now()))
		      ORDER BY no LIMIT 1 FOR UPDATE SKIP LOCKED) c
		WHERE s.pass = c.pass AND s.no = c.no
		RETURNING s.no, s.prefix, s.direct, s.all_keys, s.after`, w.id, seconds(w.lease), w.pass).
		Scan(&no, &sh.Prefix, &sh.Direct, &sh.All, &sh.After)
	if err == sql.ErrNoRows {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, db.pgErr("claim a shard of the scan", err)
	}
	return &sh, no, nil
}

// shardRef is the shard a Scan lists.
type shardRef struct {
	db   *DB
	pass int64
	no   int
}

// advance moves the shard's cursor past a batch written in tx: to its last
// key, or, when that key continues in the next batch, to the one before.
func (r *shardRef) advance(ctx context.Context, tx *txn, b batch) error {
	after := ""
	last := len(b.vs) - 1
	if b.complete {
		after = b.vs[last].Key
	} else {
		for i := last; i >= 0; i-- {
			if b.vs[i].Key != b.vs[last].Key {
				after = b.vs[i].Key
				break
			}
		}
	}
	q := `UPDATE scan_shards SET seen = seen + ?, after = CASE WHEN ? = '' THEN after ELSE ? END
		WHERE pass = ? AND no = ? AND worker = ? AND state = 'listing'`
	res, err := tx.ExecContext(ctx, q, len(b.vs), after, after, r.pass, r.no, r.db.wk.id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errGone
	}
	return nil
}

// listShard lists one shard into the pass's scan.
func (db *DB) listShard(ctx context.Context, dests []string, scanNo int64, no int, sh planner.Shard,
	list func(context.Context, planner.Shard, func(planner.Version) error) error) error {
	s := &Scan{db: db, dests: dests, no: scanNo, buf: make([]planner.Version, 0, scanBatch),
		shard: &shardRef{db: db, pass: db.wk.pass, no: no}}
	s.start(ctx)
	if err := list(ctx, sh, func(v planner.Version) error { return s.Add(ctx, v) }); err != nil {
		s.dropLastKey()
		if serr := s.Stop(); serr != nil {
			return fmt.Errorf("%w (and recording what was listed: %v)", err, serr)
		}
		return err
	}
	if err := s.Stop(); err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE scan_shards SET state = 'done' WHERE pass = ? AND no = ? AND worker = ?`,
		db.wk.pass, no, db.wk.id); err != nil {
		return db.pgErr("finish a shard of the scan", err)
	}
	return nil
}

// finishShards ends the pass's scan once every shard is listed; false
// while some are listed by others.
func (db *DB) finishShards(ctx context.Context) (bool, error) {
	w := db.wk
	var left bool
	if err := db.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM scan_shards WHERE pass = ? AND state <> 'done')`,
		w.pass).Scan(&left); err != nil {
		return false, db.pgErr("finish the scan", err)
	}
	if left {
		return false, nil
	}
	err := db.inTx(ctx, "finish the scan", func(tx *txn) error {
		var no sql.NullInt64
		if err := tx.QueryRowContext(ctx, `UPDATE passes SET scan_state = 'done' WHERE pass = ? AND scan_state = 'listing'
			RETURNING scan_no`, w.pass).Scan(&no); err == sql.ErrNoRows {
			return nil // finished by another worker
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE scans SET finished_at = ?,
			seen = (SELECT COALESCE(SUM(seen), 0) FROM scan_shards WHERE pass = ?),
			added = (SELECT COUNT(*) FROM versions WHERE scan_no = ?)
			WHERE scan_no = ?`, db.stamp(), w.pass, no, no)
		return err
	})
	if err != nil {
		return false, db.pgErr("finish the scan", err)
	}
	return true, nil
}

// passScan is what the pass's scan found; By names another worker when
// this one listed no shard of it.
func (db *DB) passScan(ctx context.Context, listed bool) (planner.ScanStats, error) {
	var st planner.ScanStats
	var by sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT s.seen, s.added,
			(SELECT MIN(worker) FROM scan_shards WHERE pass = p.pass AND worker <> ?)
		FROM passes p JOIN scans s ON s.scan_no = p.scan_no WHERE p.pass = ?`, db.wk.id, db.wk.pass).Scan(&st.Seen, &st.Added, &by)
	if err == sql.ErrNoRows { // the pass's scan was made by RecordScan
		err = db.r.QueryRowContext(ctx, `SELECT scan_seen, scan_added, scanner FROM passes WHERE pass = ?`, db.wk.pass).
			Scan(&st.Seen, &st.Added, &by)
	}
	if err != nil {
		return st, db.pgErr("read the scan", err)
	}
	if !listed {
		st.By = by.String
	}
	return st, nil
}
