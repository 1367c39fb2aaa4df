package main

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3client"
)

// session is an open job with what main made for it.
type session struct {
	*job.Job
	db  *checkpoint.DB
	log *slog.Logger
}

// close records the run's end (and exit code) and closes the checkpoint.
func (s *session) close(exitCode int) {
	s.Job.Close(exitCode)
	if err := s.db.Close(); err != nil {
		s.log.Warn("closing the checkpoint", "err", err)
	}
}

// openJob opens the checkpoint, merges the stored settings with the flags
// given now, loads the key file, makes the clients and opens the job,
// which stores the settings once they work.
func openJob(c *cli.Context, stderr io.Writer) (*session, error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	ctx := c.Context
	db, err := checkpoint.OpenTarget(ctx, target(c))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*session, error) {
		db.Discard(ctx) // a checkpoint made now holds nothing: none is left behind
		return nil, err
	}
	spec, found, err := job.StoredSpec(ctx, db)
	if err != nil {
		return fail(fmt.Errorf("checkpoint %s: %w", db.Path(), err))
	}
	if err := applyFlags(c, &spec, found); err != nil {
		return fail(err)
	}
	settings, err := spec.Parse()
	if err != nil {
		return fail(err)
	}
	clients, err := s3client.New(ctx, s3client.Options{
		SourceEndpoint: spec.SourceEndpoint(), DestEndpoint: spec.DestEndpoint(),
		CABundle: spec.CABundle, Region: spec.Region, Profile: spec.Profile, DestProfile: spec.DestProfile, ManifestProfile: c.String("manifest-profile"),
		ReportProfile: c.String("report-profile"),
		MaxInFlight:   settings.MaxInFlight, MaxRequestsPerSecond: spec.MaxRequestsPerSecond, SSEC: spec.KeysFile != "",
		RetryFor: spec.RetryFor,
	})
	if err != nil {
		return fail(job.UsageError{Err: err})
	}
	srcEndpoint, dstEndpoint := clients.Endpoints()
	settings.Manifest, settings.MaxDuration, settings.MaxVersions = c.String("manifest"), c.Duration("max-duration"), c.Int64("max-versions")
	settings.MetricsFile, settings.MetricsListen = absPath(c.String("metrics-file")), c.String("metrics-listen")
	settings.ReportPartRows = c.Int("report-part-rows")
	j, err := job.Open(ctx, settings, job.Deps{Source: clients.Source, Dest: clients.Dest, Store: db, Log: log, Manifests: clients.Manifest, Reports: clients.Report,
		SourceEndpoint: srcEndpoint, DestEndpoint: dstEndpoint,
		Progress: newProgress(stderr, log, clients.Traffic), Traffic: clients.Traffic, Now: time.Now,
		Notice: func(msg string) { fmt.Fprintln(stderr, "s3backfill: warning:", msg) }})
	if err != nil {
		return fail(err)
	}
	if err := j.BeginRun(ctx, c.Command.Name); err != nil {
		return fail(err)
	}
	if settings.Stream {
		budget := spec.PartSize * int64(settings.MaxInFlight)
		log.Info("copies are streamed through this machine (source and destination differ in endpoint or credentials, or --copy-mode stream)",
			"memory_for_parts", job.FormatSize(budget))
		if os.Getenv("GOMEMLIMIT") == "" {
			// Streamed parts are the bulk of the heap and are bounded; this
			// keeps the garbage collector from letting it double.
			debug.SetMemoryLimit(budget + 128<<20)
		}
	}
	return &session{Job: j, db: db, log: log}, nil
}

// cmdRun is check → scan → plan → copy → report.
func cmdRun(c *cli.Context, s *session, stdout io.Writer) error {
	ctx := c.Context
	start := time.Now()
	dry := c.Bool("dry-run")
	if err := s.CheckBeforeCopy(ctx, !dry); err != nil {
		return err
	}
	st, err := s.Scan(ctx)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	s.log.Info("scan done", "listed", st.Seen, "new", st.Added, "by", cmp.Or(st.By, "this process"))
	if err := s.Plan(ctx); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if dry {
		fmt.Fprintln(stdout, "Dry run: nothing was copied. What the next run would do:")
		return s.WritePlanned(ctx, stdout)
	}
	if err := s.Copy(ctx); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	s.log.Info("run finished", "took", job.DescribeDuration(time.Since(start)))
	return s.Finish(ctx, stdout, s.db.Path())
}

func cmdScan(c *cli.Context, s *session, stdout io.Writer) error {
	st, err := s.Scan(c.Context)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	fmt.Fprintf(stdout, "listed %d versions and delete markers, %d of them new to the checkpoint\n", st.Seen, st.Added)
	return nil
}

func cmdPlan(c *cli.Context, s *session, stdout io.Writer) error {
	if err := s.Plan(c.Context); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	return s.WritePlanned(c.Context, stdout)
}

func cmdCopy(c *cli.Context, s *session, stdout io.Writer) error {
	if err := s.CheckBeforeCopy(c.Context, true); err != nil {
		return err
	}
	if err := s.Copy(c.Context); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return s.Finish(c.Context, stdout, s.db.Path())
}

// cmdCheck runs the checks a run does before copying, and prints them.
func cmdCheck(c *cli.Context, s *session, stdout io.Writer) error {
	findings, err := s.Check(c.Context, true)
	if err != nil {
		return err
	}
	problems := 0
	for _, f := range findings {
		kind := "warning"
		if f.Error {
			kind = "PROBLEM"
			problems++
		}
		fmt.Fprintf(stdout, "%s: %s\n", kind, f.Message)
	}
	if len(findings) == 0 {
		fmt.Fprintln(stdout, "ok: buckets reachable, versioning on, replica KMS keys usable, SSE-C allowed where needed")
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) would make copies fail", problems)
	}
	return nil
}

// cmdVerify re-checks every replicated version against the destination.
func cmdVerify(c *cli.Context, s *session, stdout io.Writer) error {
	content := c.Bool("content")
	checked, bad, err := s.Verify(c.Context, content, func(m job.Mismatch) { fmt.Fprintf(stdout, "mismatch: %s\n", m) })
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	what := "existence, size, ETag and checksum"
	if content {
		what += ", and the SHA-256 of the content"
	}
	fmt.Fprintf(stdout, "verified %d replicas (%s): %d mismatch(es)\n", checked, what, bad)
	if bad > 0 {
		return job.MismatchError{N: bad}
	}
	return nil
}

// cmdCleanup aborts every unfinished upload this job started and lists
// the other incomplete uploads under the destination without touching them.
func cmdCleanup(c *cli.Context, s *session, stdout io.Writer) error {
	aborted, others, err := s.Cleanup(c.Context, func(u job.PendingUpload) {
		if u.Ours {
			fmt.Fprintf(stdout, "aborted: s3://%s/%s upload %s (started by this job)\n", u.Bucket, u.Key, u.UploadID)
			return
		}
		fmt.Fprintf(stdout, "not touched: s3://%s/%s upload %s started %s (not this job's)\n",
			u.Bucket, u.Key, u.UploadID, u.Initiated.UTC().Format(time.RFC3339))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d upload(s) of this job aborted; %d other incomplete upload(s) under the destination left alone\n", aborted, others)
	return nil
}

// openReader opens an existing checkpoint for status and report, which
// need no S3 client and may run while a run writes it.
func openReader(c *cli.Context) (*checkpoint.DB, job.Spec, error) {
	db, err := checkpoint.OpenTargetReader(c.Context, target(c))
	if err != nil {
		return nil, job.Spec{}, err
	}
	spec, found, err := job.StoredSpec(c.Context, db)
	if err == nil && !found {
		err = fmt.Errorf("checkpoint %s holds no job yet", db.Path())
	}
	if err != nil {
		db.Close()
		return nil, job.Spec{}, err
	}
	return db, spec, nil
}

func cmdStatus(c *cli.Context, stdout io.Writer) error {
	db, spec, err := openReader(c)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := job.ReadStatus(c.Context, db, spec)
	if err != nil {
		return err
	}
	return st.Write(stdout, spec.Describe(), time.Now())
}

func cmdReport(c *cli.Context, stdout io.Writer) error {
	db, spec, err := openReader(c)
	if err != nil {
		return err
	}
	defer db.Close()
	src, err := job.ParseLocation("source", spec.Source)
	if err != nil {
		return err
	}
	if out := c.String("output"); out != "" && out != "-" {
		return job.WriteReportFile(c.Context, db, src.Bucket, out, c.Bool("failed-only"), c.String("format"))
	}
	return job.WriteReportAs(c.Context, db, src.Bucket, stdout, c.Bool("failed-only"), c.String("format"))
}

func cmdMigrateDB(c *cli.Context, stdout io.Writer) error {
	from, to := c.String("from"), c.String("to")
	if from == "" || !checkpoint.IsPostgres(to) {
		return job.Usagef("migrate-db needs --from FILE (an SQLite checkpoint) and --to postgres://…")
	}
	src, err := checkpoint.OpenTarget(c.Context, checkpoint.Target{DB: from})
	if err != nil {
		return err
	}
	defer src.Discard(c.Context) // a --from that did not exist is not left behind
	spec, _, err := job.StoredSpec(c.Context, src)
	if err != nil {
		return err
	}
	name := cmp.Or(c.String("job"), checkpoint.DeriveJob(spec.Source, cmp.Or(spec.Dest, "rules")))
	st, err := checkpoint.MoveToPostgres(c.Context, src, to, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "moved job %s: %d version rows, %d unfinished upload(s) with %d part(s), %d scan(s)\n"+
		"run it with --db %s --job %s (on as many machines as you like); leave %s alone from now on\n",
		name, st.Versions, st.Uploads, st.Parts, st.Scans, checkpoint.RedactURL(to), name, from)
	return nil
}
