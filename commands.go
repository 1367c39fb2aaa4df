package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
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

// openJob opens the checkpoint, merges the stored settings with the flags
// given now (saving the result), loads the key file and makes the clients.
func openJob(c *cli.Context, stderr io.Writer) (*job, error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	ctx := c.Context
	path, err := dbPath(c)
	if err != nil {
		return nil, err
	}
	db, err := checkpoint.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	j := &job{db: db, log: log, progress: newProgress(stderr, log)}
	fail := func(err error) (*job, error) {
		db.Close()
		return nil, err
	}
	stored, found, err := db.Settings(ctx)
	if err != nil {
		return fail(err)
	}
	s := defaultSettings()
	if found {
		if err := json.Unmarshal(stored, &s); err != nil {
			return fail(fmt.Errorf("checkpoint %s: stored settings unreadable: %w", db.Path(), err))
		}
	}
	if err := applyFlags(c, &s, found); err != nil {
		return fail(err)
	}
	if err := s.validate(); err != nil {
		return fail(usageError{err})
	}
	if s.KeysFile != "" {
		if j.ring, err = planner.LoadKeyFile(s.KeysFile); err != nil {
			return fail(usageError{err})
		}
		if fi, err := os.Stat(s.KeysFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the key file can be read by other users; chmod 600 it", "path", s.KeysFile)
		}
	}
	j.settings = s
	if j.clients, err = newClients(ctx, s); err != nil {
		return fail(usageError{err})
	}
	j.progress.traffic = j.clients.traffic
	if err := j.startStats(ctx, c.Command.Name); err != nil {
		return fail(err)
	}
	j.source, _ = parseS3URL("source", s.Source)
	if j.rules, err = j.loadRules(ctx); err != nil {
		return fail(err)
	}
	if s.usesConfig() {
		for _, n := range j.rules.cfg.Notes() {
			log.Info("replication configuration: " + n)
		}
	}
	// Stored only once they are known to work, so that a rerun with --db
	// alone does not meet the same mistake.
	if !found || string(stored) != string(s.marshal()) {
		if err := db.SaveSettings(ctx, s.marshal()); err != nil {
			return fail(err)
		}
	}
	if j.clients.stream {
		log.Info("source and destination differ in endpoint or credentials: copies are streamed through this machine")
	}
	return j, nil
}

// applyFlags writes the flags given on this command line over s. The
// source and destination of an existing job cannot change.
func applyFlags(c *cli.Context, s *Settings, existing bool) error {
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
			return usagef("--db %s is the job %s -> %s; it cannot change its --%s (use another --db for a new job)",
				c.String("db"), s.Source, s.Dest, f.name)
		}
		*f.dst = v
	}
	str("keys", &s.KeysFile, absPath)
	str("report", &s.Report, absPath)
	str("ca-bundle", &s.CABundle, absPath)
	str("endpoint-url", &s.EndpointURL, same)
	str("source-endpoint-url", &s.SourceEndpointURL, same)
	str("dest-endpoint-url", &s.DestEndpointURL, same)
	str("region", &s.Region, same)
	str("profile", &s.Profile, same)
	str("dest-profile", &s.DestProfile, same)
	str("replica-kms-key-id", &s.ReplicaKMSKeyID, same)
	if c.IsSet("workers") {
		s.Workers = c.Int("workers")
	}
	if c.IsSet("part-workers") {
		s.PartWorkers = c.Int("part-workers")
	}
	if c.IsSet("max-in-flight") {
		s.MaxInFlight = c.Int("max-in-flight")
	}
	if c.IsSet("max-requests-per-second") {
		s.MaxRequestsPerSecond = c.Float64("max-requests-per-second")
	}
	if c.IsSet("copy-mode") {
		s.CopyMode = c.String("copy-mode")
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"multipart-threshold", &s.MultipartThreshold}, {"part-size", &s.PartSize}} {
		if c.IsSet(f.name) {
			v, err := parseSize(f.name, c.String(f.name))
			if err != nil {
				return usageError{err}
			}
			*f.dst = v
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"replicate-kms", &s.ReplicateKMS}, {"delete-markers", &s.DeleteMarkers},
		{"replication-config-from-source", &s.ReplicationConfigFromSource}, {"no-kms-probe", &s.NoKMSProbe}} {
		if c.IsSet(f.name) {
			*f.dst = c.Bool(f.name)
		}
	}
	if c.IsSet("replication-config") {
		b, err := os.ReadFile(c.String("replication-config"))
		if err != nil {
			return usagef("--replication-config: %v", err)
		}
		s.ReplicationConfig = string(b)
	}
	return applyFilterFlags(c, &s.Filter)
}

// applyFilterFlags writes the selection flags given now over f.
func applyFilterFlags(c *cli.Context, f *planner.Filter) error {
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"created-after", &f.CreatedAfter}, {"created-before", &f.CreatedBefore}} {
		if c.IsSet(t.name) {
			v, err := parseTime(t.name, c.String(t.name))
			if err != nil {
				return usageError{err}
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
			v, err := parseSize(t.name, c.String(t.name))
			if err != nil {
				return usageError{err}
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
				return usagef("--encryption %q: want NOT-SSE, SSE-S3, SSE-KMS, DSSE-KMS or SSE-C", e)
			}
			f.Encryptions = append(f.Encryptions, enc)
		}
	}
	return nil
}

// openReader opens an existing checkpoint for status and report.
func openReader(c *cli.Context) (*checkpoint.DB, Settings, error) {
	path, err := dbPath(c)
	if err != nil {
		return nil, Settings{}, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, Settings{}, usagef("--db %s: %v", path, errors.Unwrap(err))
	}
	db, err := checkpoint.OpenReader(c.Context, path)
	if err != nil {
		return nil, Settings{}, err
	}
	var s Settings
	raw, found, err := db.Settings(c.Context)
	if err == nil && !found {
		err = fmt.Errorf("checkpoint %s holds no job yet", path)
	}
	if err == nil {
		err = json.Unmarshal(raw, &s)
	}
	if err != nil {
		db.Close()
		return nil, Settings{}, err
	}
	return db, s, nil
}
