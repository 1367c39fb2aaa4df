package e2e

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// filterWorld is one source with varied keys, sizes, creation times,
// storage classes and encryption types, written in two phases around a
// cutoff time (to the millisecond).
type filterWorld struct {
	*world
	key    *customerKey
	cutoff time.Time
	late   map[string]bool // version ids written after the cutoff
}

func seedFilterWorld(t *testing.T, lab *labenv.Lab, bucket string) *filterWorld {
	t.Helper()
	c := lab.Client()
	fw := &filterWorld{world: newWorld(c, bucket), key: newCustomerKey("filters", true), late: map[string]bool{}}
	r := mrand.New(mrand.NewPCG(11, 12))
	kms1, kms2 := lab.KMSKeys[1], lab.KMSKeys[2]

	// Phase 1.
	// Every filter that selects the delete marker written last on
	// logs/2024/app.log selects a version before it too: the lab server
	// makes no delete marker for a key without versions (AWS does).
	fw.put(t, &srcVersion{key: "logs/2024/app.log", data: content(r, 100), enc: encNone, storageClass: "REDUCED_REDUNDANCY"})
	fw.put(t, &srcVersion{key: "logs/2024/app.log", data: content(r, 5000), enc: encKMS, kmsKey: kms1})
	fw.put(t, &srcVersion{key: "img/photo.jpg", data: content(r, 20000), enc: encNone, storageClass: "REDUCED_REDUNDANCY"})
	fw.put(t, &srcVersion{key: "img/photo.png", data: content(r, 300), enc: encS3})
	fw.put(t, &srcVersion{key: "data/report.csv", data: content(r, 700), enc: encC, ssec: fw.key})
	fw.put(t, &srcVersion{key: "data/archive-report.csv", data: content(r, 50), enc: encNone, storageClass: "REDUCED_REDUNDANCY"})

	// The cutoff is read off the server's own times (below); the server
	// stamps versions to the millisecond, so a few milliseconds between
	// the phases keep them apart.
	time.Sleep(5 * time.Millisecond)
	early := map[string]bool{}
	for _, vs := range fw.versions {
		for _, v := range vs {
			early[v.versionID] = true
		}
	}

	// Phase 2.
	fw.put(t, &srcVersion{key: "logs/2024/app.log", data: content(r, 10), enc: encNone})
	fw.put(t, &srcVersion{key: "logs/2025/app.log", data: content(r, 2048), enc: encS3, storageClass: "REDUCED_REDUNDANCY"})
	fw.put(t, &srcVersion{key: "img/new.jpg", data: content(r, 4096), enc: encKMS, kmsKey: kms2})
	fw.put(t, &srcVersion{key: "data/new.csv", data: content(r, 1000), enc: encC, ssec: fw.key})
	fw.del(t, "logs/2024/app.log")
	for _, vs := range fw.versions {
		for _, v := range vs {
			if !early[v.versionID] {
				fw.late[v.versionID] = true
			}
		}
	}
	// The cutoff lies halfway between the last early version and the
	// first late one, as the server stamped them.
	var lastEarly, firstLate time.Time
	for key, vs := range listVersions(t, c, bucket) {
		for _, v := range vs {
			switch {
			case early[v.versionID] && v.lastModified.After(lastEarly):
				lastEarly = v.lastModified
			case fw.late[v.versionID] && (firstLate.IsZero() || v.lastModified.Before(firstLate)):
				firstLate = v.lastModified
			case !early[v.versionID] && !fw.late[v.versionID]:
				t.Fatalf("%s@%s listed but not written by the test", key, v.versionID)
			}
		}
	}
	fw.cutoff = lastEarly.Add(firstLate.Sub(lastEarly) / 2).Truncate(time.Millisecond)
	if !lastEarly.Before(fw.cutoff) || !fw.cutoff.Before(firstLate) {
		t.Fatalf("no cutoff between the phases: last early version %s, first late one %s", lastEarly, firstLate)
	}
	return fw
}

// TestSelectionFilters runs one job per selection filter over the same
// source, each into a new destination: exactly the selected versions are
// copied (in order, with S3's encryption rules), every other one is
// skipped with a "filtered out" reason that says which filter.
//
// Every job replicates KMS versions and delete markers, so that whatever
// the filter selects is copied. Delete markers are filtered by key and
// creation time only (they have no size, class or encryption; S3 does not
// answer a HEAD of one).
func TestSelectionFilters(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "flt-src", true)
	fw := seedFilterWorld(t, lab, src)
	keyFile := writeKeyFile(t, []*customerKey{fw.key})
	kmsReplica := lab.KMSKeys[3]
	cutoff := fw.cutoff.Format(time.RFC3339Nano)

	size := func(v *srcVersion) int { return len(v.data) }
	class := func(v *srcVersion) string { return firstNonEmpty(v.storageClass, "STANDARD") }
	// reason: the excluded version's message must contain it.
	type filterCase struct {
		name   string
		args   []string
		sel    func(v *srcVersion) bool
		reason func(v *srcVersion) string
	}
	fixed := func(s string) func(*srcVersion) string { return func(*srcVersion) string { return s } }
	cases := []filterCase{
		{"created-after", []string{"--created-after", cutoff},
			func(v *srcVersion) bool { return fw.late[v.versionID] }, fixed("not after " + cutoff)},
		{"created-before", []string{"--created-before", cutoff},
			func(v *srcVersion) bool { return !fw.late[v.versionID] }, fixed("not before " + cutoff)},
		{"created-after-date-and-before", []string{"--created-after", "2000-01-31", "--created-before", cutoff},
			func(v *srcVersion) bool { return !fw.late[v.versionID] }, fixed("not before")},
		{"key-prefix", []string{"--key-prefix", "logs/"},
			func(v *srcVersion) bool { return strings.HasPrefix(v.key, "logs/") }, fixed(`does not start with "logs/"`)},
		{"key-suffix", []string{"--key-suffix", ".csv"},
			func(v *srcVersion) bool { return strings.HasSuffix(v.key, ".csv") }, fixed(`does not end with ".csv"`)},
		{"key-contains", []string{"--key-contains", "report"},
			func(v *srcVersion) bool { return strings.Contains(v.key, "report") }, fixed(`does not contain "report"`)},
		{"size-range", []string{"--min-size", "1000", "--max-size", "5000"}, // both bounds inclusive
			func(v *srcVersion) bool { return v.deleteMarker || size(v) >= 1000 && size(v) <= 5000 },
			func(v *srcVersion) string {
				if size(v) < 1000 {
					return fmt.Sprintf("%d bytes, below --min-size 1000", size(v))
				}
				return fmt.Sprintf("%d bytes, above --max-size 5000", size(v))
			}},
		{"max-size-unit", []string{"--max-size", "4KiB"},
			func(v *srcVersion) bool { return v.deleteMarker || size(v) <= 4096 }, func(v *srcVersion) string { return fmt.Sprintf("%d bytes, above --max-size 4096", size(v)) }},
		{"storage-class", []string{"--storage-class", "REDUCED_REDUNDANCY"},
			func(v *srcVersion) bool { return v.deleteMarker || class(v) == "REDUCED_REDUNDANCY" },
			fixed("storage class STANDARD not in REDUCED_REDUNDANCY")},
		{"storage-class-lower-case-list", []string{"--storage-class", "standard, glacier"},
			func(v *srcVersion) bool { return v.deleteMarker || class(v) == "STANDARD" },
			fixed("storage class REDUCED_REDUNDANCY not in STANDARD,GLACIER")},
		{"encryption-plain-and-ssec", []string{"--encryption", "NOT-SSE,SSE-C"},
			func(v *srcVersion) bool { return v.deleteMarker || v.enc == encNone || v.enc == encC },
			func(v *srcVersion) string { return "encryption " + v.enc + " not in NOT-SSE,SSE-C" }},
		{"encryption-kms", []string{"--encryption", "SSE-KMS"},
			func(v *srcVersion) bool { return v.deleteMarker || v.enc == encKMS },
			func(v *srcVersion) string { return "encryption " + v.enc + " not in SSE-KMS" }},
		{"combined", []string{"--key-prefix", "logs/", "--created-after", cutoff, "--max-size", "100"},
			func(v *srcVersion) bool {
				return strings.HasPrefix(v.key, "logs/") && fw.late[v.versionID] && (v.deleteMarker || size(v) <= 100)
			}, fixed("")},
		// The lab server sets no x-amz-replication-status: every version
		// is NONE (never replicated).
		{"replication-status-none", []string{"--replication-status", "NONE"},
			func(v *srcVersion) bool { return true }, fixed("")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := lab.Bucket(t, c, "flt-dst", true)
			db, reportPath := jobFiles(t)
			args := append([]string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--report", reportPath,
				"--keys", keyFile, "--replicate-kms", "--replica-kms-key-id", kmsReplica, "--delete-markers",
				"--endpoint-url", lab.Endpoint}, tc.args...)
			res := tool(t, lab, nil, args...)
			if res.code != 0 {
				t.Fatalf("exit %d, want 0\n%s", res.code, res)
			}
			selected := 0
			for _, vs := range fw.versions {
				for _, v := range vs {
					if tc.sel(v) {
						selected++
					}
				}
			}
			if selected == 0 || selected == fw.total() && tc.name != "replication-status-none" {
				t.Fatalf("the case selects %d of %d versions: it tells nothing", selected, fw.total())
			}
			checkReplicas(t, fw.world, c, replicaCheck{dest: dst, report: readDestReport(t, reportPath), expect: func(v *srcVersion) expectation {
				switch {
				case !tc.sel(v):
					return expectation{status: "skipped", messages: []string{"filtered out: ", tc.reason(v)}}
				case v.enc == encKMS:
					return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(kmsReplica)}
				}
				return expectation{status: "succeeded", enc: v.enc, ssec: v.ssec}
			}})
		})
	}
}

// TestSelectionFilterReplicationStatusFailed: the lab server's versions
// have no x-amz-replication-status (NONE), so a job for the versions whose
// replication FAILED (S3 Batch Replication's "retry failures") selects
// nothing: not a version, not a delete marker. The destination already
// holds a full replica (as S3 replication, or an earlier backfill, left
// it); the retry job must leave it as it is. Replaying the source's delete
// markers there would put a delete marker on top of key c, whose source
// is live again: the key would vanish from the destination.
func TestSelectionFilterReplicationStatusFailed(t *testing.T) {
	lab, c, w := newSource(t, "rsf-src")
	src := w.bucket
	r := mrand.New(mrand.NewPCG(13, 14))
	w.put(t, &srcVersion{key: "a", data: content(r, 10), enc: encNone})
	w.put(t, &srcVersion{key: "b", data: content(r, 10), enc: encS3})
	w.del(t, "b")
	w.put(t, &srcVersion{key: "c", data: content(r, 10), enc: encNone})
	w.del(t, "c")
	w.put(t, &srcVersion{key: "c", data: content(r, 11), enc: encNone})

	for _, statuses := range []string{"FAILED", "COMPLETED,FAILED,PENDING,REPLICA"} {
		t.Run(statuses, func(t *testing.T) {
			dst := lab.Bucket(t, c, "rsf-dst", true)
			full := filepath.Join(t.TempDir(), "full.db")
			if res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", full,
				"--delete-markers", "--endpoint-url", lab.Endpoint); res.code != 0 {
				t.Fatalf("the first, full job: exit %d\n%s", res.code, res)
			}
			checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
				return expectation{status: "succeeded", enc: v.enc}
			}})
			before := listVersions(t, c, dst)

			dir := t.TempDir()
			db, reportPath := filepath.Join(dir, "retry.db"), filepath.Join(dir, "report.csv")
			res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
				"--delete-markers", "--endpoint-url", lab.Endpoint, "--replication-status", statuses)
			if res.code != 0 {
				t.Fatalf("exit %d, want 0\n%s", res.code, res)
			}
			rep := readDestReport(t, reportPath)
			for _, key := range w.keys {
				for _, v := range w.versions[key] {
					if row := rep.row(t, key, v.versionID, dst); row != nil && (row["TaskStatus"] != "skipped" || !strings.Contains(row["ResultMessage"], "filtered out")) {
						t.Errorf("%q@%s (delete marker %v): %s %q, want skipped, filtered out by --replication-status %s",
							key, v.versionID, v.deleteMarker, row["TaskStatus"], row["ResultMessage"], statuses)
					}
				}
			}
			if after := listVersions(t, c, dst); !sameVersions(before, after) {
				t.Errorf("the --replication-status %s job changed the destination:\nbefore %v\nafter  %v", statuses, before, after)
			}
			if _, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(dst), Key: aws.String("c")}); err != nil {
				t.Errorf("key c, live on the source, is no longer readable on the destination: %v", err)
			}
		})
	}
}

// TestSelectionFilterUsageErrors: filters that cannot be read, or select
// nothing by construction, are usage errors (exit 2) naming the flag.
func TestSelectionFilterUsageErrors(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "flu-src", true)
	dst := lab.Bucket(t, c, "flu-dst", true)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--min-size", "10", "--max-size", "5"}, "--min-size"},
		{[]string{"--min-size", "ten"}, "--min-size"},
		{[]string{"--created-after", "2025-02-01", "--created-before", "2025-01-01"}, "--created-after"},
		{[]string{"--created-before", "yesterday"}, "--created-before"},
		{[]string{"--encryption", "SSE-S3,AES"}, "--encryption"},
		{[]string{"--replication-status", "DONE"}, "--replication-status"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "job.db")
			args := append([]string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db,
				"--endpoint-url", lab.Endpoint}, tc.args...)
			res := tool(t, lab, nil, args...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want 2 with a message naming %s\n%s", res.code, tc.want, res)
			}
		})
	}
}
