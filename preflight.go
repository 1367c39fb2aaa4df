package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/s3backfill/s3backfill/executor"
)

// preflightError lists the problems the checks found: exit code 1.
type preflightError struct{ problems []string }

func (e preflightError) Error() string {
	return fmt.Sprintf("the checks before copying found %d problem(s); nothing was copied:\n  - %s\n"+
		"(s3backfill check --db FILE repeats the checks)", len(e.problems), strings.Join(e.problems, "\n  - "))
}

// preflight runs the checks before the first copy: problems stop the run,
// warnings are logged. probe: write and delete a KMS probe object (not in
// a dry run, which writes nothing).
func (j *job) preflight(ctx context.Context, probe bool) ([]executor.Finding, error) {
	kms := j.rules.kmsKeys()
	var targets []executor.PreflightTarget
	for _, dest := range j.rules.targets() {
		targets = append(targets, executor.PreflightTarget{Bucket: dest, KMSKeys: kms[dest], SSEC: j.ring.Len() > 0})
	}
	return executor.RunPreflight(ctx, j.clients.src, j.clients.dst, executor.Preflight{
		SourceBucket: j.source.Bucket,
		Targets:      targets,
		ProbeKMS:     probe && !j.settings.NoKMSProbe,
	})
}

// checkBeforeCopy runs the checks and turns problems into an error.
func (j *job) checkBeforeCopy(ctx context.Context, probe bool) error {
	findings, err := j.preflight(ctx, probe)
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range findings {
		if f.Error {
			problems = append(problems, f.Message)
		} else {
			j.log.Warn(f.Message)
		}
	}
	if len(problems) > 0 {
		return preflightError{problems}
	}
	return nil
}

// printFindings is what `check` prints.
func printFindings(w io.Writer, findings []executor.Finding) (problems int) {
	for _, f := range findings {
		kind := "warning"
		if f.Error {
			kind = "PROBLEM"
			problems++
		}
		fmt.Fprintf(w, "%s: %s\n", kind, f.Message)
	}
	if len(findings) == 0 {
		fmt.Fprintln(w, "ok: buckets reachable, versioning on, replica KMS keys usable, SSE-C allowed where needed")
	}
	return problems
}
