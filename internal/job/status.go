package job

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// Status is what status shows of a job.
type Status struct {
	Counts  []planner.Count
	LastRun *planner.RunStats // nil before the first run
	Workers []planner.Worker  // of a shared store: live ones first
}

// ReadStatus reads a job's counts and its last run. It needs no S3 client
// and works on a checkpoint a run is writing.
func ReadStatus(ctx context.Context, rows RowReader) (Status, error) {
	counts, err := rows.Counts(ctx)
	if err != nil {
		return Status{}, err
	}
	last, err := rows.LastRun(ctx)
	if err != nil {
		return Status{}, err
	}
	workers, err := rows.Workers(ctx)
	if err != nil {
		return Status{}, err
	}
	return Status{Counts: counts, LastRun: last, Workers: workers}, nil
}

// Write prints the status as the status command shows it: the job, the
// counts, the workers of a shared store and the last run; now dates the
// workers' heartbeats.
func (st Status) Write(w io.Writer, job string, now time.Time) error {
	fmt.Fprintf(w, "job: %s\n", job)
	if err := WriteCounts(w, st.Counts, false); err != nil {
		return err
	}
	for i, wk := range st.Workers {
		if i == 0 {
			fmt.Fprintln(w, "workers:")
		}
		state := "gone"
		if wk.Alive {
			state = "alive"
		}
		fmt.Fprintf(w, "  %s  %s %s, host %s pid %d, started %s, heartbeat %s ago, %d key(s) held, %d S3 requests, %.0f/s\n",
			wk.ID, state, wk.Command, wk.Host, wk.PID, wk.StartedAt.UTC().Format(time.RFC3339), now.Sub(wk.Heartbeat).Round(time.Second),
			wk.Keys, wk.Requests, wk.Rate)
	}
	last := st.LastRun
	if last == nil {
		return nil
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	state := "finished " + stamp(last.FinishedAt)
	if last.FinishedAt.IsZero() {
		state = "running or stopped abruptly; last seen " + stamp(last.UpdatedAt)
	}
	_, err := fmt.Fprintf(w, "last run: %s, started %s, %s\n  %d S3 requests, %d throttled (503 SlowDown / 429), %.0f requests/s lately\n",
		last.Command, stamp(last.StartedAt), state, last.Requests, last.Throttled, last.Rate)
	if err == nil && last.Copied > 0 {
		_, err = fmt.Fprintf(w, "  %d versions copied, %.2f S3 requests per copied version\n", last.Copied, last.RequestsPerCopy())
	}
	return err
}

// WriteCounts prints CountsTable as aligned columns.
func WriteCounts(w io.Writer, counts []planner.Count, byAction bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range CountsTable(counts, byAction) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
