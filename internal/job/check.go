package job

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// Check runs the checks before the first copy (buckets, versioning, replica
// KMS keys, SSE-C blocking) and returns what they found. probe: write and
// delete a KMS probe object (not in a dry run, which writes nothing).
func (j *Job) Check(ctx context.Context, probe bool) ([]executor.Finding, error) {
	kms := j.rules.kmsKeys()
	probe = probe && !j.settings.Spec.NoProbe
	counts, err := j.Store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	sses3 := toCopy(counts, planner.SSES3)
	var targets []executor.PreflightTarget
	for _, dest := range j.rules.targets() {
		targets = append(targets, executor.PreflightTarget{Bucket: dest, KMSKeys: kms[dest], SSEC: j.Keys.Len() > 0, SSES3: sses3[dest] > 0})
		if probe && sses3[dest] > 0 {
			j.probedSSES3[dest] = true
		}
	}
	findings, err := executor.RunPreflight(ctx, j.Source, j.Dest, executor.Preflight{
		SourceEndpoint: j.SourceEndpoint, DestEndpoint: j.DestEndpoint,
		SourceBucket: j.settings.Source.Bucket,
		Targets:      targets,
		Probe:        probe,
	})
	if err == nil {
		var acl []executor.Finding
		acl, err = j.checkACLs(ctx)
		findings = append(findings, acl...)
	}
	for i := range findings {
		findings[i].Message = j.Keys.Scrub(findings[i].Message)
	}
	return findings, j.scrub(err)
}

// CheckBeforeCopy runs the checks: problems become a PreflightError,
// warnings are logged.
func (j *Job) CheckBeforeCopy(ctx context.Context, probe bool) error {
	if err := checkReportPath(j.settings.Spec.Report); err != nil {
		return err
	}
	findings, err := j.Check(ctx, probe)
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range findings {
		if f.Error {
			problems = append(problems, f.Message)
		} else {
			j.Log.Warn(f.Message)
		}
	}
	if len(problems) > 0 {
		return PreflightError{problems}
	}
	return nil
}

// checkReportPath finds out before copying whether the report can be
// written where --report says: a directory, or a folder that cannot be
// written, would only fail after every copy.
func checkReportPath(path string) error {
	if path == "" {
		return nil
	}
	if rest, ok := strings.CutPrefix(path, "s3://"); ok {
		// Uploaded at the end; kept on this machine if that fails.
		if bucket, _, _ := strings.Cut(rest, "/"); bucket == "" {
			return Usagef("--report %q: want s3://BUCKET/PREFIX/ or the path of a CSV file", path)
		}
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return Usagef("--report %s is a directory; want the path of the CSV file to write", path)
	}
	probe, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return Usagef("--report %s cannot be written: %v", path, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// toCopy is the number of versions of source encryption enc with a copy
// to do (copy or multipart; pending, in doubt or failed) by destination,
// as far as the checkpoint knows.
func toCopy(counts []planner.Count, enc planner.Encryption) map[string]int64 {
	rows := map[string]int64{}
	for _, c := range counts {
		if c.Encryption == string(enc) && c.Action.Copies() && c.Status != planner.StatusSucceeded && c.Status != planner.StatusSkipped {
			rows[c.Dest] += c.Rows
		}
	}
	return rows
}

// probeSSES3 probes SSE-S3, before copying, in each destination with
// SSE-S3 versions to copy that the checks did not probe (a first run knows
// the versions only after its scan): an endpoint that accepts SSE-S3 and
// stores the object unencrypted (Ceph RGW before Reef) stops the run.
func (j *Job) probeSSES3(ctx context.Context, counts []planner.Count) error {
	if j.settings.Spec.NoProbe {
		return nil
	}
	rows := toCopy(counts, planner.SSES3)
	var problems []string
	for _, dest := range slices.Sorted(maps.Keys(rows)) {
		if j.probedSSES3[dest] {
			continue
		}
		j.probedSSES3[dest] = true
		for _, f := range executor.Probe(ctx, j.Dest, dest, executor.ProbeEncryption{Kind: planner.SSES3}) {
			if f.Error {
				problems = append(problems, fmt.Sprintf("%s (%d SSE-S3 version(s) to copy there)", f.Message, rows[dest]))
			} else {
				j.Log.Warn(f.Message)
			}
		}
	}
	if len(problems) > 0 {
		return PreflightError{problems}
	}
	return ctx.Err()
}
