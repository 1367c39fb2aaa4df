package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3client"
	"github.com/s3backfill/s3backfill/planner"
)

func dbFlags() []cli.Flag {
	// Not Required: urfave/cli reports a missing required flag as a plain
	// error; checkpoint makes it a usage error (exit 2).
	return []cli.Flag{
		&cli.StringFlag{Name: "db", Usage: "the job's checkpoint: an SQLite `FILE`, created by the first run, " +
			"or a postgres://user@host/database URL (required)"},
		&cli.StringFlag{Name: "job", Usage: "the job's `NAME` in a PostgreSQL --db (default: derived from --source and --dest, " +
			"or the database's only job)"},
		&cli.DurationFlag{Name: "lease", Usage: "PostgreSQL: how long a worker's keys stay its own after its last heartbeat; " +
			"a worker gone longer is replaced", Value: checkpoint.DefaultLease},
	}
}

// target is the checkpoint --db and --job name.
func target(c *cli.Context) checkpoint.Target {
	return checkpoint.Target{DB: c.String("db"), Job: c.String("job"), Source: c.String("source"), Dest: c.String("dest"),
		Lease: c.Duration("lease")}
}

func jobFlags() []cli.Flag {
	// Clipped: each command appends flags of its own to a copy.
	return slices.Clip(append(dbFlags(),
		&cli.StringFlag{Name: "source", Usage: "source `s3://BUCKET[/PREFIX]`"},
		&cli.StringFlag{Name: "dest", Usage: "destination `s3://BUCKET[/PREFIX]`; the source prefix is replaced by this one"},
		&cli.StringFlag{Name: "keys", Usage: "SSE-C key `FILE` (JSON); keys are read from it on every run, never stored"},
		&cli.StringFlag{Name: "report", Usage: "write the CSV completion report to `FILE` after copying, or to s3://BUCKET/PREFIX/ in S3 Batch Operations' layout"},
		&cli.StringFlag{Name: "report-profile", Usage: "upload an s3:// --report with this `PROFILE`'s credentials (default: the destination's)"},
		&cli.IntFlag{Name: "report-part-rows", Usage: "rows per result file of an s3:// --report at most", Value: job.DefaultReportPartRows},
		&cli.StringFlag{Name: "prices", Usage: "price estimates and tallies with this JSON `FILE` (default: AWS S3 Standard list prices, us-east-1)"},
		&cli.StringFlag{Name: "endpoint-url", Usage: "S3 endpoint `URL` for both buckets (path-style addressing)"},
		&cli.StringFlag{Name: "source-endpoint-url", Usage: "S3 endpoint `URL` of the source"},
		&cli.StringFlag{Name: "dest-endpoint-url", Usage: "S3 endpoint `URL` of the destination"},
		&cli.StringFlag{Name: "ca-bundle", Usage: "trust the CA certificates in `PEM` (else AWS_CA_BUNDLE, else the system's)"},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION` (else AWS_REGION or the profile's)"},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared config `PROFILE` (else AWS_PROFILE or the default chain)"},
		&cli.StringFlag{Name: "dest-profile", Usage: "another `PROFILE` for the destination; copies are then streamed"},
		&cli.IntFlag{Name: "workers", Usage: "keys copied in parallel", Value: job.DefaultWorkers},
		&cli.IntFlag{Name: "part-workers", Usage: "parts of one large object copied in parallel", Value: job.DefaultPartWorkers},
		&cli.IntFlag{Name: "max-in-flight", Usage: "S3 requests in flight at most, over all workers and parts", DefaultText: "2 × --workers"},
		&cli.Float64Flag{Name: "max-requests-per-second", Usage: "send at most this many S3 requests per second (S3's own throttling slows the run down anyway)", DefaultText: "no cap"},
		&cli.DurationFlag{Name: "retry-for", Usage: "retry failing requests (throttling, 5xx, lost connections) for at least this long before a version is recorded failed", Value: s3client.DefaultRetryFor},
		&cli.StringFlag{Name: "acl", Usage: "what replicas carry of ACLs: none, copy (each version's grants) or owner-override (full control to the destination bucket's owner)", Value: "none"},
		&cli.StringFlag{Name: "inspect", Usage: "auto: HEAD a source version only where the --manifest did not say enough; always: HEAD every version", Value: "auto"},
		&cli.StringFlag{Name: "read-back", Usage: "auto: HEAD a replica only where the copy's answer did not say what it is; always; never", Value: "auto"},
		&cli.StringFlag{Name: "copy-mode", Usage: "auto (server-side copies, streamed when source and destination differ in endpoint or credentials), server or stream", Value: "auto"},
		&cli.StringFlag{Name: "multipart-threshold", Usage: "copy objects larger than `SIZE` in parts (5MiB..5GiB)", Value: job.FormatSize(job.DefaultMultipartThreshold)},
		&cli.StringFlag{Name: "part-size", Usage: "part `SIZE` of multipart copies", Value: job.FormatSize(job.DefaultPartSize)},
		&cli.StringFlag{Name: "part-layout", Usage: "source: a source uploaded in parts is copied in the same parts (its multipart ETag is kept); size: every multipart copy is cut at --part-size (fewer requests)", Value: "source"},
		&cli.BoolFlag{Name: "replicate-kms", Usage: "replicate SSE-KMS versions (S3's SseKmsEncryptedObjects), encrypted with --replica-kms-key-id"},
		&cli.StringFlag{Name: "replica-kms-key-id", Usage: "KMS key `ID` (or ARN) for replicas of SSE-KMS versions"},
		&cli.BoolFlag{Name: "delete-markers", Usage: "replay delete markers on the destination (S3's DeleteMarkerReplication)"},
		&cli.StringFlag{Name: "replication-config", Usage: "take the destinations and rules from `FILE`: the JSON of aws s3api put-bucket-replication"},
		&cli.BoolFlag{Name: "replication-config-from-source", Usage: "take the destinations and rules from the source bucket's replication configuration"},
		&cli.BoolFlag{Name: "adopt-existing", Value: true, Usage: "before copying a key the checkpoint has no record of, adopt the replicas already on the destination when its history matches the source's (a lost or new checkpoint copies nothing twice)"},
		&cli.BoolFlag{Name: "no-probe", Aliases: []string{"no-kms-probe"}, Usage: "do not write, read back and delete zero-byte probe objects before copying (replica KMS keys, SSE-C, SSE-S3)"},
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
		&cli.StringFlag{Name: "log-format", Usage: "text (key=value) or json (one object per event)", Value: "text"},
		&cli.StringFlag{Name: "metrics-file", Usage: "write Prometheus metrics to `FILE` every 30 s and at the end (node_exporter's textfile collector)"},
		&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics on `ADDR`/metrics while the run goes on (e.g. 127.0.0.1:9464)"},
	))
}

// budgetFlags are the flags of the commands that copy.
var budgetFlags = []cli.Flag{
	&cli.DurationFlag{Name: "max-duration", Usage: "start no new copy after this long (e.g. 50m); copies in flight finish; exit code 4 if versions are left"},
	&cli.Int64Flag{Name: "max-versions", Usage: "start no new copy once this many versions are copied or failed; exit code 4 if versions are left"},
}

// manifestFlags are the flags of the commands that scan.
var manifestFlags = []cli.Flag{
	&cli.StringFlag{Name: "manifest", Usage: "scan from this S3 Inventory manifest.json or Batch Operations CSV (`PATH` or s3://BUCKET/KEY) instead of listing the source"},
	&cli.StringFlag{Name: "manifest-profile", Usage: "read --manifest with this `PROFILE`'s credentials (default: the source's)"},
}

// applyFlags writes the flags given on this command line over s. The
// source and destination of an existing job cannot change.
func applyFlags(c *cli.Context, s *job.Spec, existing bool) error {
	str := func(name string, dst *string, transform func(string) string) {
		if c.IsSet(name) {
			*dst = transform(c.String(name))
		}
	}
	same := func(v string) string { return v }
	for _, f := range []struct {
		name string
		dst  *string
	}{{"source", &s.Source}, {"dest", &s.Dest}} {
		if !c.IsSet(f.name) {
			continue
		}
		v := c.String(f.name)
		if existing && *f.dst != "" && *f.dst != v {
			return job.Usagef("this checkpoint holds the job %s -> %s; it cannot change its --%s "+
				"(a new job needs another --db file, or another --job in PostgreSQL)", s.Source, s.Dest, f.name)
		}
		*f.dst = v
	}
	str("keys", &s.KeysFile, absPath)
	str("report", &s.Report, absPath)
	str("prices", &s.Prices, absPath)
	str("ca-bundle", &s.CABundle, absPath)
	str("endpoint-url", &s.EndpointURL, same)
	str("source-endpoint-url", &s.SourceEndpointURL, same)
	str("dest-endpoint-url", &s.DestEndpointURL, same)
	str("region", &s.Region, same)
	str("profile", &s.Profile, same)
	str("dest-profile", &s.DestProfile, same)
	str("replica-kms-key-id", &s.ReplicaKMSKeyID, same)
	str("copy-mode", &s.CopyMode, same)
	str("part-layout", &s.PartLayout, same)
	str("inspect", &s.Inspect, same)
	str("acl", &s.ACL, same)
	str("read-back", &s.ReadBack, same)
	set(c, "workers", &s.Workers, c.Int)
	set(c, "part-workers", &s.PartWorkers, c.Int)
	set(c, "max-in-flight", &s.MaxInFlight, c.Int)
	set(c, "retry-for", &s.RetryFor, c.Duration)
	set(c, "max-requests-per-second", &s.MaxRequestsPerSecond, c.Float64)
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"multipart-threshold", &s.MultipartThreshold}, {"part-size", &s.PartSize}} {
		if c.IsSet(f.name) {
			v, err := job.ParseSize(f.name, c.String(f.name))
			if err != nil {
				return job.UsageError{Err: err}
			}
			*f.dst = v
		}
	}
	set(c, "replicate-kms", &s.ReplicateKMS, c.Bool)
	set(c, "delete-markers", &s.DeleteMarkers, c.Bool)
	set(c, "replication-config-from-source", &s.ReplicationConfigFromSource, c.Bool)
	set(c, "no-probe", &s.NoProbe, c.Bool)
	set(c, "adopt-existing", &s.NoAdoptExisting, func(n string) bool { return !c.Bool(n) })
	if c.IsSet("replication-config") {
		b, err := os.ReadFile(c.String("replication-config"))
		if err != nil {
			return job.Usagef("--replication-config: %v", err)
		}
		if len(strings.TrimSpace(string(b))) == 0 {
			return job.Usagef("--replication-config %s: empty file; want the JSON of aws s3api get-bucket-replication", c.String("replication-config"))
		}
		s.ReplicationConfig = string(b)
	}
	return applyFilterFlags(c, &s.Filter)
}

// set writes the value of flag name over *dst when the flag was given.
func set[T any](c *cli.Context, name string, dst *T, get func(string) T) {
	if c.IsSet(name) {
		*dst = get(name)
	}
}

// applyFilterFlags writes the selection flags given now over f.
func applyFilterFlags(c *cli.Context, f *planner.Filter) error {
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"created-after", &f.CreatedAfter}, {"created-before", &f.CreatedBefore}} {
		if c.IsSet(t.name) {
			v, err := job.ParseTime(t.name, c.String(t.name))
			if err != nil {
				return job.UsageError{Err: err}
			}
			*t.dst = v
		}
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"key-prefix", &f.KeyPrefix}, {"key-suffix", &f.KeySuffix}, {"key-contains", &f.KeyContains}} {
		if c.IsSet(t.name) {
			*t.dst = c.String(t.name)
		}
	}
	for _, t := range []struct {
		name string
		dst  *int64
	}{{"min-size", &f.MinSize}, {"max-size", &f.MaxSize}} {
		if c.IsSet(t.name) {
			v, err := job.ParseSize(t.name, c.String(t.name))
			if err != nil {
				return job.UsageError{Err: err}
			}
			*t.dst = v
		}
	}
	if c.IsSet("storage-class") {
		f.StorageClasses = parseList(c.String("storage-class"))
	}
	if c.IsSet("replication-status") {
		f.ReplicationStatuses = parseList(c.String("replication-status"))
	}
	if c.IsSet("encryption") {
		f.Encryptions = nil
		for _, e := range parseList(c.String("encryption")) {
			enc, ok := planner.ParseEncryption(e)
			if !ok {
				return job.Usagef("--encryption %q: want NOT-SSE, SSE-S3, SSE-KMS, DSSE-KMS or SSE-C", e)
			}
			f.Encryptions = append(f.Encryptions, enc)
		}
	}
	return nil
}

// parseList reads a comma-separated flag value, upper-cased.
func parseList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// absPath makes a path given on the command line absolute, so that a rerun
// from another directory finds the same file.
func absPath(p string) string {
	if p == "" || p == "-" || strings.HasPrefix(p, "s3://") {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
