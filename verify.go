package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
)

// verifyBatch is how many verify results are written per commit.
const verifyBatch = 500

// verifyAll re-checks every succeeded row against the live destination
// (and with content, the bytes of both sides), records each result and
// lists the mismatches. It returns how many there were.
func (j *job) verifyAll(ctx context.Context, w io.Writer, content bool) (checked, mismatches int64, err error) {
	ex, err := j.executor(nil)
	if err != nil {
		return 0, 0, err
	}
	var (
		mu      sync.Mutex
		pending []checkpoint.Verification
	)
	flush := func(force bool) error {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) == 0 || (!force && len(pending) < verifyBatch) {
			return nil
		}
		batch := pending
		pending = nil
		return j.db.SaveVerifications(ctx, batch)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.settings.Workers)
	walkErr := j.db.EachRow(gctx, checkpoint.StatusSucceeded, func(r checkpoint.Row) error {
		g.Go(func() error {
			t := taskOf(r)
			status, msg, err := ex.Verify(gctx, t, executor.Replica{VersionID: r.DestVersionID, ETag: r.ReplicaETag}, content)
			if err != nil {
				return err
			}
			mu.Lock()
			checked++
			pending = append(pending, checkpoint.Verification{ID: r.ID, Status: status, Message: msg})
			if status != executor.VerifyOK {
				mismatches++
				fmt.Fprintf(w, "mismatch: s3://%s/%s (version %s) -> s3://%s/%s (version %s): %s\n",
					j.source.Bucket, r.Key, r.VersionID, r.Dest, r.DestKey, r.DestVersionID, msg)
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
