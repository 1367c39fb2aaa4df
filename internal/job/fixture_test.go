package job_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/job/storetest"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// copyOldCheckpoint is a copy of the checkpoint written by the release at
// 9b97cbf: job s3://src/data -> s3://dst/backup with delete markers, a row
// in every state (see checkpoint/fixture_test.go for its rows). testdata
// holds what that release printed for it.
func copyOldCheckpoint(t *testing.T) string { return storetest.OldCheckpoint(t) }

// statusText is what the status command prints: the job, the counts table,
// the last run.
func statusText(spec job.Spec, st job.Status) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "job: %s\n", spec.Describe())
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, row := range job.CountsTable(st.Counts, false) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	if last := st.LastRun; last != nil {
		stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
		state := "finished " + stamp(last.FinishedAt)
		if last.FinishedAt.IsZero() {
			state = "running or stopped abruptly; last seen " + stamp(last.UpdatedAt)
		}
		fmt.Fprintf(&b, "last run: %s, started %s, %s\n  %d S3 requests, %d throttled (503 SlowDown / 429), %.0f requests/s lately\n",
			last.Command, stamp(last.StartedAt), state, last.Requests, last.Throttled, last.Rate)
	}
	return b.String()
}

// TestOldCheckpointReportsAsBefore: this release's report and status of
// the old checkpoint are byte for byte what the old release printed, read
// as status and report read it (without migrating) and once migrated.
func TestOldCheckpointReportsAsBefore(t *testing.T) {
	wantReport, err := os.ReadFile("testdata/report.golden.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus, err := os.ReadFile("testdata/status.golden")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, open := range []struct {
		name string
		open func(context.Context, string) (*checkpoint.DB, error)
	}{{"reader", checkpoint.OpenReader}, {"migrated", checkpoint.Open}} {
		t.Run(open.name, func(t *testing.T) {
			db, err := open.open(ctx, copyOldCheckpoint(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			spec, found, err := job.StoredSpec(ctx, db)
			if err != nil || !found {
				t.Fatalf("StoredSpec: %v, found %v", err, found)
			}
			src, err := job.ParseLocation("source", spec.Source)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := job.WriteReport(ctx, db, src.Bucket, &buf, false); err != nil {
				t.Fatalf("WriteReport: %v", err)
			}
			// Columns are only ever added at the end: the old release's
			// columns read the same, and the old rows' facts came from HEADs.
			got, cut := oldColumns(t, buf.Bytes(), "SourceFacts")
			if got != string(wantReport) {
				t.Errorf("report differs from the old release's\n got:\n%s\nwant:\n%s", got, wantReport)
			}
			for i, v := range cut[1:] {
				if want := map[bool]string{true: "head", false: ""}[i != 5 && i != 7]; v != want {
					t.Errorf("report row %d: SourceFacts %q, want %q", i+1, v, want)
				}
			}
			st, err := job.ReadStatus(ctx, db, job.Spec{})
			if err != nil {
				t.Fatalf("ReadStatus: %v", err)
			}
			if got := statusText(spec, st); got != string(wantStatus) {
				t.Errorf("status differs from the old release's\n got:\n%s\nwant:\n%s", got, wantStatus)
			}
		})
	}
}

// TestOldCheckpointResumes: a job of the old release, opened from its
// stored settings (endpoint moved to the fake), scans, plans and copies to
// the end: the pending versions are copied, the one in doubt whose replica
// the old run made is adopted, the multipart copy whose recorded upload is
// gone starts over and goes in parts, nothing is copied twice.
func TestOldCheckpointResumes(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	old := func(key, vid string, data []byte, h map[string]string, etag string) {
		f.Put(srcBucket, key, s3fake.Object{VersionID: vid, Data: data, Header: h, ETag: etag})
	}
	// The source as the old run listed it: same keys, ids, sizes, ETags.
	old("data/a.txt", "a1", []byte("aaaaa"), nil, "")
	old("data/a.txt", "a2", []byte("aaaaa2"), nil, `"b0baee9d279d34fa1dfd71aadb908c3f"`)
	old("data/b.txt", "b1", []byte("bbb"), map[string]string{hSSE: "AES256"}, "")
	f.Put(srcBucket, "data/big.bin", s3fake.Object{VersionID: "g1", Size: 12 * mib, PartSizes: []int64{5 * mib, 5 * mib, 2 * mib},
		ETag: `"0123456789abcdef0123456789abcdef-3"`})
	old("data/gone", "d0", []byte("abcd"), nil, "")
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "d1", DeleteMarker: true})
	old("data/kms.txt", "k1", []byte("hello!!"), map[string]string{hSSE: "aws:kms", hKMSKey: "arn:aws:kms:src-key",
		"x-amz-server-side-encryption-bucket-key-enabled": "true"}, `"5d41402abc4b2a76b9719d911017c592"`)
	old("data/new.txt", "n1", []byte("hi"), nil, `"5d41402abc4b2a76b9719d911017c592"`)
	old(`data/secret, "x".txt`, "s1", []byte("123456789"), keyX.Header(), `"ffffffffffffffffffffffffffffffff"`)
	// The replica of b.txt the old run made after claiming it, and lost.
	adoptB := f.Put(dstBucket, "backup/b.txt", s3fake.Object{Data: []byte("bbb"), Header: map[string]string{hSSE: "AES256"}})

	path := copyOldCheckpoint(t)
	db, err := checkpoint.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	spec, found, err := job.StoredSpec(ctx, db)
	db.Close()
	if err != nil || !found {
		t.Fatalf("StoredSpec: %v, found %v", err, found)
	}
	if spec.Source != "s3://src/data" || spec.Dest != "s3://dst/backup" || !spec.DeleteMarkers || spec.PartSize != 5*mib {
		t.Fatalf("stored spec %+v", spec)
	}
	spec.EndpointURL = f.URL()
	e := openEnv(t, f, spec, options{path: path})

	st, err := e.job.Scan(ctx)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if st.Seen != 9 || st.Added != 0 {
		t.Errorf("scan %+v, want the 9 known versions seen and none new", st)
	}
	if err := e.job.Plan(ctx); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	// Only what was never inspected (n1), and the SSE-C version no key
	// opened (s1), is inspected: a2 and k1 keep what the old run found.
	heads := map[string]int{}
	for _, r := range f.Ops("HeadObject") {
		heads[r.Key]++
	}
	if len(heads) != 2 || heads["data/new.txt"] != 1 || heads[`data/secret, "x".txt`] != 1 {
		t.Errorf("plan HEADs by key %v, want one each of new.txt and the SSE-C one", heads)
	}
	if err := e.job.Copy(ctx); err != nil {
		t.Fatalf("Copy: %v", err)
	}

	rows := byVersion(e.rows(t))
	for kv, want := range map[string]planner.Status{
		"data/a.txt@a1": planner.StatusSucceeded, "data/a.txt@a2": planner.StatusSucceeded, "data/b.txt@b1": planner.StatusSucceeded,
		"data/big.bin@g1": planner.StatusSucceeded, "data/gone@d0": planner.StatusSucceeded, "data/gone@d1": planner.StatusSucceeded,
		"data/kms.txt@k1": planner.StatusSkipped, "data/new.txt@n1": planner.StatusSucceeded, `data/secret, "x".txt@s1`: planner.StatusFailed,
	} {
		if r := rows[kv]; r.Status != want {
			t.Errorf("%s: %s (%s %s), want %s", kv, r.Status, r.ErrorCode, r.Message, want)
		}
	}
	if len(rows) != 9 {
		t.Errorf("%d rows, want 9", len(rows))
	}
	if r := rows["data/a.txt@a1"]; r.Replica.VersionID != "dv-a1" {
		t.Errorf("a1 replica %q, want dv-a1 kept", r.Replica.VersionID)
	}
	if r := rows["data/b.txt@b1"]; r.Replica.VersionID != adoptB || !strings.Contains(r.Message, "interrupted run") {
		t.Errorf("b1: replica %q, %q; want adopted %s", r.Replica.VersionID, r.Message, adoptB)
	}
	if r := rows[`data/secret, "x".txt@s1`]; r.ErrorCode != planner.CodeSSECKeyNotFound || r.Message != planner.ReasonNoKeyFile {
		t.Errorf("s1: %s %q, want %s %q", r.ErrorCode, r.Message, planner.CodeSSECKeyNotFound, planner.ReasonNoKeyFile)
	}
	wantCopies := map[string]int{"data/a.txt@a2": 1, "data/new.txt@n1": 1}
	if got := copyObjects(f); !maps.Equal(got, wantCopies) {
		t.Errorf("CopyObject by version %v, want %v (b1 adopted, big.bin in parts, done ones left)", got, wantCopies)
	}
	if n := len(workOps(f.Ops("DeleteObject"))); n != 0 {
		t.Errorf("%d DeleteObject: the replayed delete marker was replayed again", n)
	}

	// big.bin: the dead upload "upl-1" is found gone, and the copy starts
	// over in a new upload of the source's three parts.
	deadSeen := false
	for _, r := range f.Requests() {
		if r.Query.Get("uploadId") != "upl-1" {
			continue
		}
		switch {
		case (r.Op == "AbortMultipartUpload" || r.Op == "ListParts") && r.Status == 404:
			deadSeen = true
		default:
			t.Errorf("%s with the dead upload upl-1 (answered %d)", r.Op, r.Status)
		}
	}
	if !deadSeen {
		t.Errorf("the recorded upload upl-1 was never looked for: %v", s3fake.Describe(f.Requests()))
	}
	create := f.Ops("CreateMultipartUpload")
	if len(create) != 1 || create[0].Key != "backup/big.bin" {
		t.Fatalf("CreateMultipartUpload: %v, want one for backup/big.bin", s3fake.Describe(create))
	}
	if parts := f.Ops("UploadPartCopy"); len(parts) != 3 {
		t.Errorf("%d UploadPartCopy, want the source's 3 parts", len(parts))
	}
	big := replicas(f, "backup/big.bin")
	if len(big) != 1 || big[0].VersionID != rows["data/big.bin@g1"].Replica.VersionID || len(big[0].PartSizes) != 3 ||
		!bytes.Equal(big[0].Data, s3fake.Fill(12*mib)) {
		t.Errorf("big.bin: %d replicas, want one of 3 parts holding the source's bytes, recorded", len(big))
	}
	if u, err := e.db.Uploads(ctx); err != nil || len(u) != 0 {
		t.Errorf("uploads left in the checkpoint: %+v, %v", u, err)
	}
	if u := f.Uploads(dstBucket); len(u) != 0 {
		t.Errorf("uploads left on the destination: %+v", u)
	}
	for key, n := range map[string]int{"backup/a.txt": 1, "backup/b.txt": 1, "backup/new.txt": 1, "backup/gone": 0, "backup/kms.txt": 0} {
		if got := len(f.Versions(dstBucket, key)); got != n {
			t.Errorf("%s: %d destination versions, want %d", key, got, n)
		}
	}
	if n, err := e.job.Failed(ctx); err != nil || n != 1 {
		t.Errorf("Failed() = %d, %v; want 1", n, err)
	}
}

// oldColumns cuts the last column, which must be named name, off a CSV
// report: the report without it, and the column's values (header first).
func oldColumns(t *testing.T, report []byte, name string) (string, []string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(report)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	var cut []string
	for _, r := range recs {
		cut = append(cut, r[len(r)-1])
		w.Write(r[:len(r)-1])
	}
	w.Flush()
	if cut[0] != name {
		t.Fatalf("last column %q, want %s", cut[0], name)
	}
	return out.String(), cut
}
