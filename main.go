// Command s3backfill copies every existing object version from a source
// bucket to a destination bucket, encrypted objects included (SSE-S3,
// SSE-KMS, SSE-C with keys looked up per version), following S3
// replication's rules, with a local checkpoint that makes every run
// resumable and a CSV completion report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
)

// Exit codes, as --help lists them.
const (
	exitOK     = 0
	exitFatal  = 1
	exitUsage  = 2
	exitFailed = 3
	exitBudget = 4
	exitLocked = 5
)

const exitCodesHelp = `EXIT CODES:
   0  every version succeeded or was skipped by a rule
   1  fatal error (the checkpoint stays consistent: rerun to resume)
   2  usage error: bad flags, settings, key file or manifest; nothing was copied
   3  finished, but some versions failed (see the report); verify: some replicas do not match
   4  stopped by --max-duration or --max-versions with versions left: rerun to continue
   5  another run holds the job (SQLite checkpoint): it is still running`

func main() {
	// S3BACKFILL_CPUPROFILE=FILE writes a CPU profile of the run (go tool
	// pprof), for the benchmarks; it is not a user setting.
	if path := os.Getenv("S3BACKFILL_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args, os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	return exitCode(ctx, err, stderr)
}

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	code := codeOf(ctx, err)
	switch {
	case code == exitOK:
	case code == exitUsage || (code == exitFatal && !errors.Is(err, context.Canceled)):
		fmt.Fprintln(stderr, "s3backfill: error:", err)
	case code == exitFatal:
		fmt.Fprintln(stderr, "s3backfill: interrupted; the checkpoint is consistent: rerun the same command (or s3backfill run --db FILE) to resume")
	default:
		fmt.Fprintln(stderr, "s3backfill:", err) // failed versions, budget, lock: returned as they are
	}
	return code
}

// codeOf is the exit code an error ends the run with.
func codeOf(ctx context.Context, err error) int {
	var ue job.UsageError
	var de checkpoint.UsageError
	var fe job.FailedVersionsError
	var me job.MismatchError
	var be job.BudgetError
	var le checkpoint.LockedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &be):
		return exitBudget
	case errors.As(err, &le):
		return exitLocked
	case errors.As(err, &fe), errors.As(err, &me):
		return exitFailed
	case errors.As(err, &ue), errors.As(err, &de):
		return exitUsage
	}
	return exitFatal
}

func newApp(stdout, stderr io.Writer) *cli.App {
	onUsage := func(_ *cli.Context, err error, _ bool) error { return job.UsageError{Err: err} }
	jobFlags := jobFlags()
	app := &cli.App{
		Name:  "s3backfill",
		Usage: "replicate every existing object version from one S3 bucket to another, encrypted objects included",
		Description: `s3backfill does what S3 Batch Replication does, on any S3-compatible endpoint: it lists
every version (and delete marker) under the source, decides per version what S3 replication's
rules say (SSE-S3 stays SSE-S3, SSE-KMS only with --replicate-kms, SSE-C with the keys in
--keys), copies versions oldest first per key, and writes a completion report.

Everything it learns and does is kept in the checkpoint (--db), so any run can be stopped and
rerun: it resumes, and later runs copy only versions created since.

   s3backfill run --source s3://SRC[/PREFIX] --dest s3://DST[/PREFIX] --db job.db [--keys keys.json] [--report report.csv]
   s3backfill run --db job.db          # resume, or pick up new versions

` + exitCodesHelp,
		Writer:         stdout,
		ErrWriter:      stderr,
		OnUsageError:   onUsage,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are ours: see run
		Commands: []*cli.Command{
			command("run", "scan, plan, copy and report, in one go (resumes an existing --db)",
				append(slices.Concat(jobFlags, manifestFlags, budgetFlags), &cli.BoolFlag{Name: "dry-run", Usage: "scan and plan, print what would be copied, copy nothing"}),
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdRun(c, s, stdout) })),
			command("scan", "list the source's versions and delete markers (or read a --manifest) into the checkpoint", append(jobFlags, manifestFlags...),
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdScan(c, s, stdout) })),
			command("plan", "inspect listed versions (encryption, SSE-C key) and decide what to do with each", jobFlags,
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdPlan(c, s, stdout) })),
			command("copy", "copy every planned version that is not done yet", slices.Concat(jobFlags, budgetFlags),
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdCopy(c, s, stdout) })),
			command("check", "check what would make copies fail (buckets, versioning, KMS keys, SSE-C blocking), as run does first", jobFlags,
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdCheck(c, s, stdout) })),
			command("verify", "re-check every replicated version against the destination (exists, size, ETag, checksum)",
				append(jobFlags, &cli.BoolFlag{Name: "content",
					Usage: "also read both sides in full and compare their SHA-256 (SSE-C keys from --keys)"}),
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdVerify(c, s, stdout) })),
			command("cleanup", "abort the unfinished multipart uploads this job started; list other incomplete uploads under the destination", jobFlags,
				withJob(stderr, func(c *cli.Context, s *session) error { return cmdCleanup(c, s, stdout) })),
			command("status", "print counts by status and encryption", dbFlags(),
				func(c *cli.Context) error { return cmdStatus(c, stdout) }),
			command("report", "write the CSV completion report", append(dbFlags(),
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of standard output"},
				&cli.BoolFlag{Name: "failed-only", Usage: "only the failed versions"},
				&cli.StringFlag{Name: "format", Usage: "csv, json (one object per row) or manifest (bucket,key,versionId: an S3 Batch Operations manifest)", Value: "csv"},
			), func(c *cli.Context) error { return cmdReport(c, stdout) }),
			command("migrate-db", "copy an SQLite job (settings, versions, outcomes, uploads) into PostgreSQL, to spread it over workers", []cli.Flag{
				&cli.StringFlag{Name: "from", Usage: "the job's SQLite checkpoint `FILE`"},
				&cli.StringFlag{Name: "to", Usage: "the PostgreSQL `URL` (postgres://user@host/database)"},
				&cli.StringFlag{Name: "job", Usage: "the job's `NAME` there (default: derived from its source and destination)"},
			}, func(c *cli.Context) error { return cmdMigrateDB(c, stdout) }),
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsage
	}
	return app
}

func command(name, usage string, flags []cli.Flag, action cli.ActionFunc) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, Flags: flags, Action: action}
}

// withJob runs a command on the job the flags open, and closes it after.
func withJob(stderr io.Writer, cmd func(*cli.Context, *session) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		s, err := openJob(c, stderr)
		if err != nil {
			return err
		}
		err = cmd(c, s)
		s.close(codeOf(c.Context, err))
		return err
	}
}

// newLogger logs to stderr at the level and in the format the flags name.
func newLogger(c *cli.Context, stderr io.Writer) (*slog.Logger, error) {
	return job.NewLogger(stderr, c.String("log-level"), c.String("log-format"))
}
