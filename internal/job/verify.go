package job

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/planner"
)

// verifyBatch is how many verify results are written per commit.
const verifyBatch = 500

// Mismatch is one replica that verify found not to match its source.
type Mismatch struct {
	SourceBucket string
	Row          planner.Row
	Message      string
}

func (m Mismatch) String() string {
	r := m.Row
	return fmt.Sprintf("s3://%s/%s (version %s) -> s3://%s/%s (version %s): %s",
		m.SourceBucket, r.Key, r.VersionID, r.Dest, r.DestKey, r.Replica.VersionID, m.Message)
}

// Verify re-checks every succeeded task against the live destination (and
// with content, the bytes of both sides), records each result, and calls
// mismatch for each replica that does not match (from one goroutine at a
// time). It returns how many replicas it checked and how many did not match.
func (j *Job) Verify(ctx context.Context, content bool, mismatch func(Mismatch)) (checked, mismatches int64, err error) {
	defer func() { err = j.scrub(err) }()
	ex, err := j.executor(nil, nil)
	if err != nil {
		return 0, 0, err
	}
	var (
		mu      sync.Mutex
		pending []planner.Verification
	)
	flush := func(force bool) error {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) == 0 || (!force && len(pending) < verifyBatch) {
			return nil
		}
		batch := pending
		pending = nil
		return j.Store.SaveVerifications(ctx, batch)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.settings.Spec.Workers)
	walkErr := j.Store.EachRow(gctx, planner.StatusSucceeded, func(r planner.Row) error {
		g.Go(func() error {
			status, msg, err := ex.Verify(gctx, r.Task, r.Replica, content)
			if err != nil {
				return err
			}
			mu.Lock()
			checked++
			pending = append(pending, planner.Verification{TaskID: r.ID, Status: status, Message: msg})
			if status != planner.VerifyOK {
				mismatches++
				if mismatch != nil {
					mismatch(Mismatch{SourceBucket: j.settings.Source.Bucket, Row: r, Message: msg})
				}
			}
			mu.Unlock()
			return flush(false)
		})
		return nil
	})
	err = g.Wait()
	if walkErr != nil && err == nil {
		err = walkErr
	}
	if ferr := flush(true); err == nil {
		err = ferr
	}
	return checked, mismatches, err
}
