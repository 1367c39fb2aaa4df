package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
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
	byOp, err := json.Marshal(s.ByOperation)
	if err != nil || s.ByOperation == nil {
		byOp = []byte("{}")
	}
	_, err = db.w.ExecContext(ctx, `UPDATE runs SET updated_at = ?, finished_at = ?, requests = ?, throttled = ?, rate = ?, copied = ?,
		key_trials = ?, requests_by_op = ? WHERE run_no = ?`, now, fin, s.Requests, s.Throttled, s.Rate, s.Copied, s.KeyTrials,
		string(byOp), runNo)
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
	var byOp string
	err := db.r.QueryRowContext(ctx, `SELECT command, started_at, updated_at, finished_at, requests, throttled, rate, `+db.runsLater+`
		FROM runs ORDER BY run_no DESC LIMIT 1`).Scan(&s.Command, &started, &updated, &finished, &s.Requests, &s.Throttled, &s.Rate,
		&s.Copied, &s.KeyTrials, &byOp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	if s.ByOperation, err = parseByOp(byOp); err != nil {
		return nil, err
	}
	if len(s.ByOperation) == 0 {
		s.ByOperation = nil // a run that sent nothing, or an older release's
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

// RequestsByOperation sums every run's requests by S3 operation: what the
// job has sent so far.
func (db *DB) RequestsByOperation(ctx context.Context) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+db.runsByOp+` FROM runs`)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	total := map[string]int64{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		m, err := parseByOp(raw)
		if err != nil {
			return nil, err
		}
		for op, n := range m {
			total[op] += n
		}
	}
	return total, rows.Err()
}

func parseByOp(raw string) (map[string]int64, error) {
	m := map[string]int64{}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("read runs: requests by operation %q: %w", raw, err)
	}
	return m, nil
}
