package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/planner"
)

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
		budget := s.PartSize * int64(s.maxInFlight())
		log.Info("copies are streamed through this machine (source and destination differ in endpoint or credentials, or --copy-mode stream)",
			"memory_for_parts", formatSize(budget))
		if os.Getenv("GOMEMLIMIT") == "" {
			// Streamed parts are the bulk of the heap and are bounded; this
			// keeps the garbage collector from letting it double.
			debug.SetMemoryLimit(budget + 128<<20)
		}
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
	str("copy-mode", &s.CopyMode, same)
	str("part-layout", &s.PartLayout, same)
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
