package planner

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Filter selects the versions a job replicates, as S3 Batch Replication's
// manifest generator does. Filter{MaxSize: -1} selects everything (a
// MaxSize of 0 selects empty objects only). Versions it leaves out are
// skipped with the reason ExcludesListed or ExcludesInspected gives.
type Filter struct {
	CreatedAfter, CreatedBefore time.Time // zero: no bound
	KeyPrefix, KeySuffix        string
	KeyContains                 string
	MinSize, MaxSize            int64 // MaxSize < 0: no bound
	StorageClasses              []string
	Encryptions                 []Encryption
	// ReplicationStatuses: NONE, PENDING, FAILED, COMPLETED, REPLICA (read
	// from x-amz-replication-status; NONE is its absence).
	ReplicationStatuses []string
}

// StorageClasses are S3's storage classes, as listings name them.
var StorageClasses = []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
	"GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS", "FSX_ONTAP"}

// Replication statuses, as the filter names them.
var replicationStatuses = []string{"NONE", "PENDING", "FAILED", "COMPLETED", "REPLICA"}

// Validate reports a filter that can select nothing by construction or
// names an unknown value.
func (f Filter) Validate() error {
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		return fmt.Errorf("--created-after %s is not before --created-before %s", f.CreatedAfter.Format(time.RFC3339), f.CreatedBefore.Format(time.RFC3339))
	}
	if f.MaxSize >= 0 && f.MinSize > f.MaxSize {
		return fmt.Errorf("--min-size %d is larger than --max-size %d", f.MinSize, f.MaxSize)
	}
	for _, s := range f.ReplicationStatuses {
		if !slices.Contains(replicationStatuses, s) {
			return fmt.Errorf("--replication-status %q: want one of %s", s, strings.Join(replicationStatuses, ","))
		}
	}
	for _, c := range f.StorageClasses {
		if !slices.Contains(StorageClasses, c) {
			return fmt.Errorf("--storage-class %q: want one of %s", c, strings.Join(StorageClasses, ","))
		}
	}
	return nil
}

// ExcludesListed says why the filter leaves a version out by what the
// listing tells (key, time, size, storage class), or "" if it does not.
// Delete markers are filtered by key and time only: they keep the deletions
// of the keys the filter selects (a filter on size, class or encryption
// would otherwise leave a deleted object live on the replica).
func (f Filter) ExcludesListed(src Source) string {
	switch {
	case f.KeyPrefix != "" && !strings.HasPrefix(src.Key, f.KeyPrefix):
		return fmt.Sprintf("filtered out: key does not start with %q", f.KeyPrefix)
	case f.KeySuffix != "" && !strings.HasSuffix(src.Key, f.KeySuffix):
		return fmt.Sprintf("filtered out: key does not end with %q", f.KeySuffix)
	case f.KeyContains != "" && !strings.Contains(src.Key, f.KeyContains):
		return fmt.Sprintf("filtered out: key does not contain %q", f.KeyContains)
	case !f.CreatedAfter.IsZero() && !src.LastModified.After(f.CreatedAfter):
		return fmt.Sprintf("filtered out: created %s, not after %s", stamp(src.LastModified), stamp(f.CreatedAfter))
	case !f.CreatedBefore.IsZero() && !src.LastModified.Before(f.CreatedBefore):
		return fmt.Sprintf("filtered out: created %s, not before %s", stamp(src.LastModified), stamp(f.CreatedBefore))
	}
	if src.DeleteMarker {
		return ""
	}
	switch {
	case src.Size < f.MinSize:
		return fmt.Sprintf("filtered out: %d bytes, below --min-size %d", src.Size, f.MinSize)
	case f.MaxSize >= 0 && src.Size > f.MaxSize:
		return fmt.Sprintf("filtered out: %d bytes, above --max-size %d", src.Size, f.MaxSize)
	case len(f.StorageClasses) > 0 && !slices.Contains(f.StorageClasses, storageClassName(src.StorageClass)):
		return fmt.Sprintf("filtered out: storage class %s not in %s", storageClassName(src.StorageClass), strings.Join(f.StorageClasses, ","))
	}
	return ""
}

// ExcludesInspected says why the filter leaves an inspected version out
// by its encryption or replication status (a delete marker's is NONE), or
// "" if it does not.
func (f Filter) ExcludesInspected(src Source) string {
	if !src.DeleteMarker && len(f.Encryptions) > 0 && !slices.Contains(f.Encryptions, src.Encryption) {
		return fmt.Sprintf("filtered out: encryption %s not in %s", src.Encryption, joinEncryptions(f.Encryptions))
	}
	if len(f.ReplicationStatuses) > 0 {
		st := src.ReplicationStatus
		if st == "" {
			st = "NONE"
		}
		if !slices.Contains(f.ReplicationStatuses, st) {
			return fmt.Sprintf("filtered out: replication status %s not in %s", st, strings.Join(f.ReplicationStatuses, ","))
		}
	}
	return ""
}

func storageClassName(c string) string {
	if c == "" {
		return "STANDARD"
	}
	return c
}

func joinEncryptions(es []Encryption) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = string(e)
	}
	return strings.Join(s, ",")
}

// stamp prints a time to the precision it has: a whole second as such,
// a listing's time to the millisecond (two versions created in the same
// second must not read as the same time).
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
