package job

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/s3backfill/s3backfill/executor"
)

// defaultRate is the request rate a time estimate assumes when nothing was
// measured and no cap was given: a modest one, so that the estimate errs
// long.
const defaultRate = 50

// Estimate estimates what copying the plan in the checkpoint will send
// and cost (see estimate), timed at the rate this run measured so far.
func (j *Job) Estimate(ctx context.Context) (Estimate, error) {
	prices, err := ReadPrices(j.settings.Spec.Prices)
	if err != nil {
		return Estimate{}, err
	}
	in := j.settings.estimateInput(j.Keys.Len())
	in.aclCopy = func(dest string) bool { return j.aclMode(dest) == executor.ACLCopy }
	e, err := estimate(ctx, j.Store, in)
	if err != nil {
		return Estimate{}, err
	}
	e.Prices = prices
	var rate float64
	if j.Traffic != nil {
		rate = j.Traffic.Rate()
	}
	e.Rate, e.RateFrom = timingRate(rate, "the rate this run measured while scanning and planning", j.settings.Spec)
	return e, nil
}

// timingRate picks the rate a time estimate uses: one measured, else the
// --max-requests-per-second cap, else defaultRate; and says which.
func timingRate(measured float64, what string, spec Spec) (float64, string) {
	switch {
	case measured > 0:
		return measured, what
	case spec.MaxRequestsPerSecond > 0:
		return spec.MaxRequestsPerSecond, "--max-requests-per-second"
	}
	return defaultRate, "an assumed rate: nothing measured yet"
}

// WritePlanned prints what a dry run or plan found: the counts by action,
// then the estimate of the copy phase.
func (j *Job) WritePlanned(ctx context.Context, w io.Writer) error {
	if err := j.WriteCounts(ctx, w, true); err != nil {
		return err
	}
	e, err := j.Estimate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	return e.Write(w, "What copying will send and cost")
}

// WriteCounts prints the job's counts.
func (j *Job) WriteCounts(ctx context.Context, w io.Writer, byAction bool) error {
	counts, err := j.Store.Counts(ctx)
	if err != nil {
		return err
	}
	return WriteCounts(w, counts, byAction)
}

// WriteSummary prints the counts after a run, and what its requests cost.
func (j *Job) WriteSummary(ctx context.Context, w io.Writer) error {
	if err := j.WriteCounts(ctx, w, false); err != nil {
		return err
	}
	if j.Traffic == nil {
		return nil
	}
	prices, err := ReadPrices(j.settings.Spec.Prices)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "this run: %s\n", spentLine(j.Traffic.ByOperation(), prices))
	return err
}

// spentLine is requests by operation and their price, on one line.
func spentLine(byOp map[string]int64, p Prices) string {
	var total int64
	var cost float64
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(byOp)) {
		total += byOp[op]
		cost += p.Request(op, byOp[op])
		parts = append(parts, fmt.Sprintf("%s %s", op, thousands(byOp[op])))
	}
	return fmt.Sprintf("%s S3 requests, %s at %s: %s", thousands(total), dollars(cost, -1), p.Label(), strings.Join(parts, ", "))
}

// Finish ends a run that copied: the report (if the job has one), the
// counts and the run's requests; then BudgetError when a budget stopped it
// with versions left, else FailedVersionsError (naming the checkpoint db)
// when versions failed.
func (j *Job) Finish(ctx context.Context, w io.Writer, db string) error {
	if err := j.WriteReport(ctx); err != nil {
		return err
	}
	if err := j.WriteSummary(ctx, w); err != nil {
		return err
	}
	if b := j.budget.Load(); b != nil {
		left, _, err := j.Store.CountWork(ctx)
		if err != nil {
			return err
		}
		if left > 0 {
			return BudgetError{Why: b.Why, Left: left}
		}
	}
	n, err := j.Failed(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return FailedVersionsError{N: n, DB: db}
	}
	return nil
}
