package job

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/s3backfill/s3backfill/executor"
)

// Check runs the checks before the first copy (buckets, versioning, replica
// KMS keys, SSE-C blocking) and returns what they found. probe: write and
// delete a KMS probe object (not in a dry run, which writes nothing).
func (j *Job) Check(ctx context.Context, probe bool) ([]executor.Finding, error) {
	kms := j.rules.kmsKeys()
	var targets []executor.PreflightTarget
	for _, dest := range j.rules.targets() {
		targets = append(targets, executor.PreflightTarget{Bucket: dest, KMSKeys: kms[dest], SSEC: j.Keys.Len() > 0})
	}
	findings, err := executor.RunPreflight(ctx, j.Source, j.Dest, executor.Preflight{
		SourceEndpoint: j.SourceEndpoint, DestEndpoint: j.DestEndpoint,
		SourceBucket: j.settings.Source.Bucket,
		Targets:      targets,
		ProbeKMS:     probe && !j.settings.Spec.NoKMSProbe,
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
