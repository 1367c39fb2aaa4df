package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
)

// cmdRun is scan → plan → copy → report.
func cmdRun(c *cli.Context, stdout, stderr io.Writer) error {
	j, err := openJob(c, stderr)
	if err != nil {
		return err
	}
	defer j.close()
	ctx := c.Context
	start := time.Now()

	dry := c.Bool("dry-run")
	if err := j.checkBeforeCopy(ctx, !dry); err != nil {
		return err
	}
	st, err := j.scan(ctx)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	j.log.Info("scan done", "listed", st.Seen, "new", st.Added)
	if err := j.plan(ctx); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if dry {
		fmt.Fprintln(stdout, "Dry run: nothing was copied. What the next run would do:")
		return printCounts(ctx, j.db, stdout, true)
	}
	if err := j.copyAll(ctx); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	j.log.Info("run finished", "took", describeDuration(time.Since(start)))
	return j.finish(ctx, stdout)
}

// cmdPhase runs one phase of a job.
func cmdPhase(c *cli.Context, stdout, stderr io.Writer, phase string) error {
	j, err := openJob(c, stderr)
	if err != nil {
		return err
	}
	defer j.close()
	ctx := c.Context
	switch phase {
	case "scan":
		st, err := j.scan(ctx)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		fmt.Fprintf(stdout, "listed %d versions and delete markers, %d of them new to the checkpoint\n", st.Seen, st.Added)
		return nil
	case "plan":
		if err := j.plan(ctx); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		return printCounts(ctx, j.db, stdout, true)
	default:
		if err := j.checkBeforeCopy(ctx, true); err != nil {
			return err
		}
		if err := j.copyAll(ctx); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		return j.finish(ctx, stdout)
	}
}

// finish writes the report (if the job has one) and prints the counts;
// failed versions make the exit code 3.
func (j *job) finish(ctx context.Context, stdout io.Writer) error {
	if j.settings.Report != "" {
		if err := writeReportFile(ctx, j.db, j.settings, j.settings.Report, false); err != nil {
			return err
		}
		j.log.Info("report written", "path", j.settings.Report)
	}
	if err := printCounts(ctx, j.db, stdout, false); err != nil {
		return err
	}
	counts, err := j.db.Counts(ctx)
	if err != nil {
		return err
	}
	var failed int64
	for _, n := range counts {
		if n.Status == checkpoint.StatusFailed {
			failed += n.Rows
		}
	}
	if failed > 0 {
		return failedVersionsError{failed, j.db.Path()}
	}
	return nil
}

// cmdCheck runs the checks a run does before copying, and prints them.
func cmdCheck(c *cli.Context, stdout, stderr io.Writer) error {
	j, err := openJob(c, stderr)
	if err != nil {
		return err
	}
	defer j.close()
	findings, err := j.preflight(c.Context, true)
	if err != nil {
		return err
	}
	if n := printFindings(stdout, findings); n > 0 {
		return fmt.Errorf("%d problem(s) would make copies fail", n)
	}
	return nil
}

// cmdVerify re-checks every replicated version against the destination.
func cmdVerify(c *cli.Context, stdout, stderr io.Writer) error {
	j, err := openJob(c, stderr)
	if err != nil {
		return err
	}
	defer j.close()
	checked, bad, err := j.verifyAll(c.Context, stdout, c.Bool("content"))
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	what := "existence, size, ETag and checksum"
	if c.Bool("content") {
		what += ", and the SHA-256 of the content"
	}
	fmt.Fprintf(stdout, "verified %d replicas (%s): %d mismatch(es)\n", checked, what, bad)
	if bad > 0 {
		return mismatchError{bad}
	}
	return nil
}

// cmdCleanup aborts every unfinished upload this job started and lists
// the other incomplete uploads under the destination without touching them.
func cmdCleanup(c *cli.Context, stdout, stderr io.Writer) error {
	j, err := openJob(c, stderr)
	if err != nil {
		return err
	}
	defer j.close()
	ctx := c.Context
	ex, err := j.executor(nil)
	if err != nil {
		return err
	}
	ours, err := j.db.Uploads(ctx)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for _, u := range ours {
		if err := ex.AbortUpload(ctx, u.Bucket, u.Key, u.UploadID); err != nil {
			return err
		}
		if err := j.db.DropUpload(ctx, u.UploadID); err != nil {
			return err
		}
		mine[u.UploadID] = true
		fmt.Fprintf(stdout, "aborted: s3://%s/%s upload %s (started by this job)\n", u.Bucket, u.Key, u.UploadID)
	}
	others := 0
	for _, dest := range j.rules.targets() {
		err := ex.ListUploads(ctx, dest, j.rules.destPrefix, func(u executor.PendingUpload) {
			if mine[u.UploadID] {
				return
			}
			others++
			fmt.Fprintf(stdout, "not touched: s3://%s/%s upload %s started %s (not this job's)\n",
				dest, u.Key, u.UploadID, u.Initiated.UTC().Format(time.RFC3339))
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d upload(s) of this job aborted; %d other incomplete upload(s) under the destination left alone\n", len(ours), others)
	return nil
}

func cmdStatus(c *cli.Context, stdout io.Writer) error {
	db, s, err := openReader(c)
	if err != nil {
		return err
	}
	defer db.Close()
	dest := s.Dest
	if s.usesConfig() {
		dest = "the destinations of the replication configuration"
	}
	fmt.Fprintf(stdout, "job: %s -> %s\n", s.Source, dest)
	if err := printCounts(c.Context, db, stdout, false); err != nil {
		return err
	}
	last, err := db.LastRun(c.Context)
	if err != nil || last == nil {
		return err
	}
	state := "finished " + last.FinishedAt
	if last.FinishedAt == "" {
		state = "running or stopped abruptly; last seen " + last.UpdatedAt
	}
	fmt.Fprintf(stdout, "last run: %s, started %s, %s\n  %d S3 requests, %d throttled (503 SlowDown / 429), %.0f requests/s lately\n",
		last.Command, last.StartedAt, state, last.Requests, last.Throttled, last.Rate)
	return nil
}

func cmdReport(c *cli.Context, stdout io.Writer) error {
	db, s, err := openReader(c)
	if err != nil {
		return err
	}
	defer db.Close()
	if out := c.String("output"); out != "" && out != "-" {
		return writeReportFile(c.Context, db, s, out, c.Bool("failed-only"))
	}
	return writeReport(c.Context, db, s, stdout, c.Bool("failed-only"))
}

// printCounts prints versions and bytes by status and source encryption
// (and destination, when there are several); byAction adds the planned
// action (what a dry run shows).
func printCounts(ctx context.Context, db *checkpoint.DB, w io.Writer, byAction bool) error {
	counts, err := db.Counts(ctx)
	if err != nil {
		return err
	}
	dests := map[string]bool{}
	for _, n := range counts {
		dests[n.Dest] = true
	}
	byDest := len(dests) > 1
	type rowKey struct{ dest, status, action, enc string }
	agg := map[rowKey]*checkpoint.Count{}
	var keys []rowKey
	var total checkpoint.Count
	for _, n := range counts {
		k := rowKey{status: n.Status, enc: n.Encryption}
		if byAction {
			k.action = n.Action
		}
		if byDest {
			k.dest = n.Dest
		}
		if agg[k] == nil {
			agg[k] = &checkpoint.Count{}
			keys = append(keys, k)
		}
		agg[k].Rows += n.Rows
		agg[k].Bytes += n.Bytes
		total.Rows += n.Rows
		total.Bytes += n.Bytes
	}
	sort.Slice(keys, func(a, b int) bool {
		ka, kb := keys[a], keys[b]
		return fmt.Sprint(ka.dest, "\x00", ka.status, "\x00", ka.action, "\x00", ka.enc) <
			fmt.Sprint(kb.dest, "\x00", kb.status, "\x00", kb.action, "\x00", kb.enc)
	})
	var cols []string
	if byDest {
		cols = append(cols, "DESTINATION")
	}
	cols = append(cols, "STATUS")
	if byAction {
		cols = append(cols, "ACTION")
	}
	cols = append(cols, "ENCRYPTION", "VERSIONS", "BYTES")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, k := range keys {
		n := agg[k]
		var cells []string
		if byDest {
			cells = append(cells, k.dest)
		}
		cells = append(cells, k.status)
		if byAction {
			cells = append(cells, orDash(k.action))
		}
		cells = append(cells, k.enc, fmt.Sprint(n.Rows), formatSize(n.Bytes))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	fmt.Fprintln(tw, "total"+strings.Repeat("\t", len(cols)-2)+fmt.Sprintf("%d\t%s", total.Rows, formatSize(total.Bytes)))
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
