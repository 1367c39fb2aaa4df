package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// BeginRun records the start of a run and returns its number.
func (db *DB) BeginRun(ctx context.Context, command string) (int64, error) {
	now := db.stamp()
	var no int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO runs (command, started_at, updated_at) VALUES (?, ?, ?) RETURNING run_no`,
		command, now, now).Scan(&no)
	if err != nil {
		return 0, fmt.Errorf("record run: %w", err)
	}
	if db.wk != nil {
		if _, err := db.w.ExecContext(ctx, `UPDATE workers SET command = ?, run_no = ? WHERE id = ?`, command, no, db.wk.id); err != nil {
			return 0, fmt.Errorf("record run: %w", err)
		}
	}
	return no, nil
}

// UpdateRun records a run's traffic so far; finished marks its end.
func (db *DB) UpdateRun(ctx context.Context, runNo int64, s planner.RunStats, finished bool) error {
	now := db.stamp()
	fin := ""
	if finished {
		fin = now
	}
	_, err := db.w.ExecContext(ctx, `UPDATE runs SET updated_at = ?, finished_at = ?, requests = ?, throttled = ?, rate = ?, copied = ?,
		key_trials = ? WHERE run_no = ?`, now, fin, s.Requests, s.Throttled, s.Rate, s.Copied, s.KeyTrials, runNo)
	if err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return nil
}

// LastRun is the latest run, or nil.
func (db *DB) LastRun(ctx context.Context) (*planner.RunStats, error) {
	var (
		s                          planner.RunStats
		started, updated, finished string
	)
	err := db.r.QueryRowContext(ctx, `SELECT command, started_at, updated_at, finished_at, requests, throttled, rate, `+db.runsLater+`
		FROM runs ORDER BY run_no DESC LIMIT 1`).Scan(&s.Command, &started, &updated, &finished, &s.Requests, &s.Throttled, &s.Rate,
		&s.Copied, &s.KeyTrials)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	for _, t := range []struct {
		dst *time.Time
		v   string
	}{{&s.StartedAt, started}, {&s.UpdatedAt, updated}, {&s.FinishedAt, finished}} {
		if *t.dst, err = parseStamp(t.v); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
	}
	return &s, nil
}
