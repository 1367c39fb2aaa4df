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
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit codes, as --help lists them.
const (
	exitOK     = 0
	exitFatal  = 1
	exitUsage  = 2
	exitFailed = 3
)

const exitCodesHelp = `EXIT CODES:
   0  every version succeeded or was skipped by a rule
   1  fatal error (the checkpoint stays consistent: rerun to resume)
   2  usage error: bad flags, settings or key file; nothing was copied
   3  finished, but some versions failed (see the report); verify: some replicas do not match`

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

// usageError is a mistake in what the user asked: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// mismatchError ends a verify that found mismatches: exit 3.
type mismatchError struct{ n int64 }

func (e mismatchError) Error() string {
	return fmt.Sprintf("%d replica(s) do not match their source", e.n)
}

// failedVersionsError ends a run that finished with failed versions: exit 3.
type failedVersionsError struct {
	n  int64
	db string
}

func (e failedVersionsError) Error() string {
	return fmt.Sprintf("%d version(s) failed; see s3backfill report --db %s --failed-only", e.n, e.db)
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
	var ue usageError
	var fe failedVersionsError
	var me mismatchError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &fe):
		fmt.Fprintln(stderr, "s3backfill:", fe.Error())
		return exitFailed
	case errors.As(err, &me):
		fmt.Fprintln(stderr, "s3backfill:", me.Error())
		return exitFailed
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "s3backfill: error:", ue.Error())
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "s3backfill: interrupted; the checkpoint is consistent: rerun the same command (or s3backfill run --db FILE) to resume")
		return exitFatal
	default:
		fmt.Fprintln(stderr, "s3backfill: error:", err)
		return exitFatal
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
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
			{
				Name:   "run",
				Usage:  "scan, plan, copy and report, in one go (resumes an existing --db)",
				Flags:  append(jobFlags, &cli.BoolFlag{Name: "dry-run", Usage: "scan and plan, print what would be copied, copy nothing"}),
				Action: func(c *cli.Context) error { return cmdRun(c, stdout, stderr) },
			},
			{
				Name:   "scan",
				Usage:  "list the source's versions and delete markers into the checkpoint",
				Flags:  jobFlags,
				Action: func(c *cli.Context) error { return cmdPhase(c, stdout, stderr, "scan") },
			},
			{
				Name:   "plan",
				Usage:  "inspect listed versions (encryption, SSE-C key) and decide what to do with each",
				Flags:  jobFlags,
				Action: func(c *cli.Context) error { return cmdPhase(c, stdout, stderr, "plan") },
			},
			{
				Name:   "copy",
				Usage:  "copy every planned version that is not done yet",
				Flags:  jobFlags,
				Action: func(c *cli.Context) error { return cmdPhase(c, stdout, stderr, "copy") },
			},
			{
				Name:   "check",
				Usage:  "check what would make copies fail (buckets, versioning, KMS keys, SSE-C blocking), as run does first",
				Flags:  jobFlags,
				Action: func(c *cli.Context) error { return cmdCheck(c, stdout, stderr) },
			},
			{
				Name:  "verify",
				Usage: "re-check every replicated version against the destination (exists, size, ETag, checksum)",
				Flags: append(jobFlags, &cli.BoolFlag{Name: "content",
					Usage: "also read both sides in full and compare their SHA-256 (SSE-C keys from --keys)"}),
				Action: func(c *cli.Context) error { return cmdVerify(c, stdout, stderr) },
			},
			{
				Name:   "cleanup",
				Usage:  "abort the unfinished multipart uploads this job started; list other incomplete uploads under the destination",
				Flags:  jobFlags,
				Action: func(c *cli.Context) error { return cmdCleanup(c, stdout, stderr) },
			},
			{
				Name:   "status",
				Usage:  "print counts by status and encryption",
				Flags:  []cli.Flag{dbFlag()},
				Action: func(c *cli.Context) error { return cmdStatus(c, stdout) },
			},
			{
				Name:  "report",
				Usage: "write the CSV completion report",
				Flags: []cli.Flag{
					dbFlag(),
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of standard output"},
					&cli.BoolFlag{Name: "failed-only", Usage: "only the failed versions"},
				},
				Action: func(c *cli.Context) error { return cmdReport(c, stdout) },
			},
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsage
	}
	return app
}

func dbFlag() cli.Flag {
	// Not Required: urfave/cli reports a missing required flag as a plain
	// error; dbPath makes it a usage error (exit 2).
	return &cli.StringFlag{Name: "db", Usage: "the job's checkpoint `FILE` (SQLite); created by the first run (required)"}
}

// dbPath is the --db flag, which every command needs.
func dbPath(c *cli.Context) (string, error) {
	p := c.String("db")
	if p == "" {
		return "", usagef("--db FILE is needed: the job's checkpoint")
	}
	return p, nil
}

func jobFlags() []cli.Flag {
	return []cli.Flag{
		dbFlag(),
		&cli.StringFlag{Name: "source", Usage: "source `s3://BUCKET[/PREFIX]`"},
		&cli.StringFlag{Name: "dest", Usage: "destination `s3://BUCKET[/PREFIX]`; the source prefix is replaced by this one"},
		&cli.StringFlag{Name: "keys", Usage: "SSE-C key `FILE` (JSON); keys are read from it on every run, never stored"},
		&cli.StringFlag{Name: "report", Usage: "write the CSV completion report to `FILE` after copying"},
		&cli.StringFlag{Name: "endpoint-url", Usage: "S3 endpoint `URL` for both buckets (path-style addressing)"},
		&cli.StringFlag{Name: "source-endpoint-url", Usage: "S3 endpoint `URL` of the source"},
		&cli.StringFlag{Name: "dest-endpoint-url", Usage: "S3 endpoint `URL` of the destination"},
		&cli.StringFlag{Name: "ca-bundle", Usage: "trust the CA certificates in `PEM` (else AWS_CA_BUNDLE, else the system's)"},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION` (else AWS_REGION or the profile's)"},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared config `PROFILE` (else AWS_PROFILE or the default chain)"},
		&cli.StringFlag{Name: "dest-profile", Usage: "another `PROFILE` for the destination; copies are then streamed"},
		&cli.IntFlag{Name: "workers", Usage: "keys copied in parallel", Value: defaultWorkers},
		&cli.IntFlag{Name: "part-workers", Usage: "parts of one large object copied in parallel", Value: defaultPartWorkers},
		&cli.IntFlag{Name: "max-in-flight", Usage: "S3 requests in flight at most, over all workers and parts", DefaultText: "2 × --workers"},
		&cli.Float64Flag{Name: "max-requests-per-second", Usage: "send at most this many S3 requests per second (S3's own throttling slows the run down anyway)", DefaultText: "no cap"},
		&cli.StringFlag{Name: "copy-mode", Usage: "auto (server-side copies, streamed when source and destination differ in endpoint or credentials), server or stream", Value: "auto"},
		&cli.StringFlag{Name: "multipart-threshold", Usage: "copy objects larger than `SIZE` in parts (5MiB..5GiB)", Value: formatSize(defaultMultipartThreshold)},
		&cli.StringFlag{Name: "part-size", Usage: "part `SIZE` of multipart copies", Value: formatSize(defaultPartSize)},
		&cli.StringFlag{Name: "part-layout", Usage: "source: a source uploaded in parts is copied in the same parts (its multipart ETag is kept); size: every multipart copy is cut at --part-size (fewer requests)", Value: "source"},
		&cli.BoolFlag{Name: "replicate-kms", Usage: "replicate SSE-KMS versions (S3's SseKmsEncryptedObjects), encrypted with --replica-kms-key-id"},
		&cli.StringFlag{Name: "replica-kms-key-id", Usage: "KMS key `ID` (or ARN) for replicas of SSE-KMS versions"},
		&cli.BoolFlag{Name: "delete-markers", Usage: "replay delete markers on the destination (S3's DeleteMarkerReplication)"},
		&cli.StringFlag{Name: "replication-config", Usage: "take the destinations and rules from `FILE`: the JSON of aws s3api put-bucket-replication"},
		&cli.BoolFlag{Name: "replication-config-from-source", Usage: "take the destinations and rules from the source bucket's replication configuration"},
		&cli.BoolFlag{Name: "no-kms-probe", Usage: "do not check replica KMS keys by writing (and deleting) a zero-byte probe object before copying"},
		&cli.StringFlag{Name: "created-after", Usage: "only versions created after `TIME` (2024-01-31 or RFC 3339)", Category: "Selection"},
		&cli.StringFlag{Name: "created-before", Usage: "only versions created before `TIME`", Category: "Selection"},
		&cli.StringFlag{Name: "key-prefix", Usage: "only keys starting with `TEXT`", Category: "Selection"},
		&cli.StringFlag{Name: "key-suffix", Usage: "only keys ending with `TEXT`", Category: "Selection"},
		&cli.StringFlag{Name: "key-contains", Usage: "only keys containing `TEXT`", Category: "Selection"},
		&cli.StringFlag{Name: "min-size", Usage: "only versions of at least `SIZE`", Category: "Selection"},
		&cli.StringFlag{Name: "max-size", Usage: "only versions of at most `SIZE`", Category: "Selection"},
		&cli.StringFlag{Name: "storage-class", Usage: "only versions in these `CLASSES` (comma-separated, e.g. STANDARD,STANDARD_IA)", Category: "Selection"},
		&cli.StringFlag{Name: "encryption", Usage: "only versions encrypted as `TYPES`: NOT-SSE,SSE-S3,SSE-KMS,DSSE-KMS,SSE-C", Category: "Selection"},
		&cli.StringFlag{Name: "replication-status", Usage: "only versions with these x-amz-replication-status `VALUES`: NONE,PENDING,FAILED,COMPLETED,REPLICA", Category: "Selection"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
	}
}

// newLogger logs to stderr at the level the flag names.
func newLogger(c *cli.Context, stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	name := "info"
	if c.IsSet("log-level") || c.String("log-level") != "" {
		name = c.String("log-level")
	}
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", name)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), nil
}

func newProgress(stderr io.Writer, log *slog.Logger) progressFactory {
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return progressFactory{tty: tty, out: stderr, log: log, interval: 5 * time.Second}
}

// phaseNames reads well in messages.
var phaseNames = strings.NewReplacer("scan", "scanning", "plan", "planning", "copy", "copying")
