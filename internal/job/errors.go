package job

import (
	"fmt"
	"strings"
)

// UsageError is a mistake in what the user asked: bad settings, a bad key
// file or replication configuration. Nothing was copied.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// PreflightError lists the problems the checks before copying found:
// nothing was copied.
type PreflightError struct{ Problems []string }

func (e PreflightError) Error() string {
	return fmt.Sprintf("the checks before copying found %d problem(s); nothing was copied:\n  - %s\n"+
		"(s3backfill check --db FILE repeats the checks)", len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// FailedVersionsError ends a copy that finished with failed versions.
type FailedVersionsError struct {
	N  int64
	DB string // the checkpoint, for the command that lists them
}

func (e FailedVersionsError) Error() string {
	return fmt.Sprintf("%d version(s) failed; see s3backfill report --db %s --failed-only", e.N, e.DB)
}

// MismatchError ends a verify that found replicas that do not match.
type MismatchError struct{ N int64 }

func (e MismatchError) Error() string {
	return fmt.Sprintf("%d replica(s) do not match their source", e.N)
}

// BudgetError ends a run that --max-duration or --max-versions stopped
// with versions left to copy: what was copied is recorded; a rerun goes on.
type BudgetError struct {
	Why  string // the flag, as given
	Left int64  // versions left to copy
}

func (e BudgetError) Error() string {
	return fmt.Sprintf("stopped by %s with %d version(s) left to copy; rerun to continue", e.Why, e.Left)
}
