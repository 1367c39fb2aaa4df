package job

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// Copy runs the executor over every planned copy: keys in parallel, the
// versions of a key oldest first. What finished is recorded even when the
// run is interrupted or stops on a fatal error.
func (j *Job) Copy(ctx context.Context) (err error) {
	end := j.phase("copy")
	defer func() {
		err = j.scrub(err)
		end(err, "copied", j.copied.Load(), "settled", j.settled.Load())
	}()
	rows, bytes, err := j.Store.CountWork(ctx)
	if err != nil {
		return err
	}
	counts, err := j.Store.Counts(ctx)
	if err != nil {
		return err
	}
	j.warnKeysCrossHosts(counts)
	if err := j.probeSSES3(ctx, counts); err != nil {
		return err
	}
	if err := j.learning(ctx); err != nil {
		return err
	}
	var locks map[string]bool
	if rows > 0 { // nothing to copy, nothing to ask
		if locks, err = j.objectLockDests(ctx); err != nil {
			return err
		}
	}
	bar := j.Progress.Start("copy", "versions copied", rows, bytes)
	defer bar.Finish()
	ex, err := j.executor(bar, locks)
	if err != nil {
		return err
	}
	runErr := ex.Run(ctx, countingStore{j.Store, &j.copied, &j.settled})
	// The store flushes on a context of its own: what finished before a
	// cancellation or a fatal error is kept; so is what was learned.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return errors.Join(runErr, j.Store.Flush(), j.saveLearning(lctx))
}

// countingStore counts the versions a run copies (for its requests per
// copied version) and settles (for --max-versions).
type countingStore struct {
	executor.Store
	copied, settled *atomic.Int64
}

func (s countingStore) Record(o planner.Outcome) error {
	if o.Status == planner.StatusSucceeded {
		s.copied.Add(1)
	}
	if o.Status != planner.StatusPending {
		s.settled.Add(1)
	}
	return s.Store.Record(o)
}

// budgetSpent says whether this run's budget is spent (and which), so that
// no new version starts.
func (j *Job) budgetSpent() bool {
	s := j.settings
	switch {
	case s.MaxDuration > 0 && j.Now().Sub(j.opened) >= s.MaxDuration:
		j.budget.CompareAndSwap(nil, &BudgetError{Why: "--max-duration " + s.MaxDuration.String()})
	case s.MaxVersions > 0 && j.settled.Load() >= s.MaxVersions:
		j.budget.CompareAndSwap(nil, &BudgetError{Why: fmt.Sprintf("--max-versions %d", s.MaxVersions)})
	}
	return j.budget.Load() != nil
}

// executor makes the job's executor, reporting to progress (may be nil).
func (j *Job) executor(progress executor.Progress, locks map[string]bool) (*executor.Executor, error) {
	s := j.settings
	return executor.New(executor.Config{
		SourceBucket:  s.Source.Bucket,
		Workers:       s.Spec.Workers,
		PartWorkers:   s.Spec.PartWorkers,
		PartSize:      s.Spec.PartSize,
		Stream:        s.Stream,
		Keys:          j.Keys,
		StopGrace:     StopGrace,
		StreamParts:   s.MaxInFlight,
		CutAtPartSize: s.cutAtPartSize(),
		AdoptExisting: !s.Spec.NoAdoptExisting,
		ReadBack:      s.ReadBack,
		Learned:       j.learned,
		Stop:          j.budgetSpent,
		ObjectLock:    locks,
		ACL:           j.aclMode,
		// --copy-mode auto: what the endpoint cannot copy server-side is
		// streamed (server-side copies only where auto chose them).
		StreamFallback: s.Spec.CopyMode == "" || s.Spec.CopyMode == "auto",
		KeyTrials:      &j.keyTrials,
	}, j.Source, j.Dest, progress, j.Log.With("component", "executor"))
}

// Failed is the number of tasks that failed or are left in doubt (claimed
// by a copy whose outcome is unknown): the tasks a rerun must see to.
func (j *Job) Failed(ctx context.Context) (int64, error) {
	counts, err := j.Store.Counts(ctx)
	if err != nil {
		return 0, err
	}
	var failed int64
	for _, n := range counts {
		if n.Status == planner.StatusFailed || n.Status == planner.StatusCopying {
			failed += n.Rows
		}
	}
	return failed, nil
}

// warnKeysCrossHosts tells the user, before the first copy, when a
// server-side copy between two endpoints will hand SSE-C source keys to the
// destination's host (which reads the source itself with them).
func (j *Job) warnKeysCrossHosts(counts []planner.Count) {
	if j.settings.Stream || j.Keys.Len() == 0 || SameEndpoint(j.SourceEndpoint, j.DestEndpoint) {
		return
	}
	var rows int64
	for _, n := range toCopy(counts, planner.SSEC) {
		rows += n
	}
	if rows > 0 {
		j.Notice(fmt.Sprintf("--copy-mode server between two endpoints: the SSE-C keys of %d source version(s) will be sent to "+
			"the destination's host (%s), which reads the source with them; use --copy-mode stream to keep them with the source's host",
			rows, hostOf(j.DestEndpoint)))
	}
}

// hostOf is the host of an endpoint URL, or the URL itself.
func hostOf(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Host
	}
	if endpoint == "" {
		return "AWS"
	}
	return endpoint
}
