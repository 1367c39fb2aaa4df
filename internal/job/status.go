package job

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
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
	// KeylessFolders are the folders with SSE-C versions no key opened,
	// most such versions first (at most maxKeylessFolders): where adding
	// the key, or its prefixes, pays.
	KeylessFolders []FolderCount
	// Spent are the job's requests so far, by S3 operation (every run).
	Spent map[string]int64
	// Remaining is what the plan has left to copy, estimated from the
	// counts; nil when the settings cannot be read.
	Remaining *Estimate
	Prices    Prices
}

// FolderCount is a folder of the source and a number of its versions.
type FolderCount struct {
	Folder   string
	Versions int64
}

// maxKeylessFolders is how many folders without a key status lists.
const maxKeylessFolders = 10

// ReadStatus reads a job's counts and its last run, what it sent so far
// and what its plan has left, as the job's spec prices and times them. It
// needs no S3 client and works on a checkpoint a run is writing.
func ReadStatus(ctx context.Context, rows RowReader, spec Spec) (Status, error) {
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
	st := Status{Counts: counts, LastRun: last, Workers: workers}
	if st.KeylessFolders, err = keylessFolders(ctx, rows, counts); err != nil {
		return Status{}, err
	}
	if st.Spent, err = rows.RequestsByOperation(ctx); err != nil {
		return Status{}, err
	}
	if st.Prices, err = ReadPrices(spec.Prices); err != nil {
		st.Prices = DefaultPrices // status still shows the rest
	}
	if settings, err := spec.Parse(); err == nil {
		e := estimateFromCounts(counts, settings.estimateInput(0))
		e.Prices = st.Prices
		var rate float64
		if last != nil && last.FinishedAt.IsZero() {
			rate = last.Rate
		}
		e.Rate, e.RateFrom = timingRate(rate, "the running run's recent rate", spec)
		st.Remaining = &e
	}
	return st, nil
}

// keylessFolders groups the failed SSE-C versions no key opened by folder.
// Only failed rows are read, and only when the counts show such rows.
func keylessFolders(ctx context.Context, rows RowReader, counts []planner.Count) ([]FolderCount, error) {
	if !slices.ContainsFunc(counts, func(c planner.Count) bool {
		return c.Status == planner.StatusFailed && c.Encryption == string(planner.SSEC)
	}) {
		return nil, nil
	}
	by := map[string]int64{}
	err := rows.EachRow(ctx, planner.StatusFailed, func(r planner.Row) error {
		if r.Encryption == planner.SSEC && r.ErrorCode == planner.CodeSSECKeyNotFound {
			by[planner.Folder(r.Key)]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]FolderCount, 0, len(by))
	for f, n := range by {
		out = append(out, FolderCount{f, n})
	}
	slices.SortFunc(out, func(a, b FolderCount) int {
		return cmp.Or(cmp.Compare(b.Versions, a.Versions), strings.Compare(a.Folder, b.Folder))
	})
	return out[:min(len(out), maxKeylessFolders)], nil
}

// Write prints the status as the status command shows it: the job, the
// counts, the workers of a shared store and the last run; now dates the
// workers' heartbeats.
func (st Status) Write(w io.Writer, job string, now time.Time) error {
	fmt.Fprintf(w, "job: %s\n", job)
	if err := WriteCounts(w, st.Counts, false); err != nil {
		return err
	}
	if len(st.Spent) > 0 {
		fmt.Fprintf(w, "sent so far: %s\n", spentLine(st.Spent, st.Prices))
	}
	if e := st.Remaining; e != nil && e.Versions > 0 {
		t := e.Total()
		lo, hi := e.Price()
		fmt.Fprintf(w, "left by the plan: %s versions, about %s S3 requests, %s; %s to %s at %.0f requests/s (%s)\n",
			thousands(e.Versions), t, dollars(lo, hi), DescribeDuration(seconds(float64(t.Min)/e.Rate)),
			DescribeDuration(seconds(float64(t.Max)/e.Rate)), e.Rate, e.RateFrom)
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
	if err == nil && last.KeyTrials > 0 {
		_, err = fmt.Fprintf(w, "  %d requests tried SSE-C keys that did not open the version\n", last.KeyTrials)
	}
	if err == nil && len(st.KeylessFolders) > 0 {
		_, err = fmt.Fprintln(w, "folders with SSE-C versions no key opens (add the key, or its prefixes, to the key file):")
		for _, f := range st.KeylessFolders {
			if err == nil {
				_, err = fmt.Fprintf(w, "  %s  %d version(s)\n", cmp.Or(EncodeKey(f.Folder), "(the top level)"), f.Versions)
			}
		}
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
