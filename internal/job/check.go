package job

import (
	"context"

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
		SourceBucket: j.settings.Source.Bucket,
		Targets:      targets,
		ProbeKMS:     probe && !j.settings.Spec.NoKMSProbe,
	})
	for i := range findings {
		findings[i].Message = j.Keys.Scrub(findings[i].Message)
	}
	return findings, j.scrub(err)
}

// CheckBeforeCopy runs the checks: problems become a PreflightError,
// warnings are logged.
func (j *Job) CheckBeforeCopy(ctx context.Context, probe bool) error {
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
