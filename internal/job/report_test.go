package job_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/planner"
)

// reportColumns is the report's header, as the S3 Batch Operations
// completion report starts it.
var reportColumns = []string{
	"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage",
	"DestinationBucket", "DestinationKey", "DestinationVersionId",
	"SourceEncryption", "ReplicaEncryption", "KeyId", "ReplicaKeyId",
	"Size", "SourceETag", "ReplicaETag", "ETagStatus", "ETagReason", "ChecksumStatus", "ChecksumReason",
	"DeleteMarker", "RuleId", "PartLayout", "VerifyStatus", "VerifyMessage", "SourceFacts",
}

// readReport parses a report into its rows as column name → value, after
// checking the header.
func readReport(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("report is not CSV: %v\n%s", err, b)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], reportColumns) {
		t.Fatalf("report header %v\nwant %v", recs[0], reportColumns)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, c := range reportColumns {
			m[c] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

const oddKey = `data/a b,"c"+.txt`

// TestReport: the job's --report file has one row per version, by key and
// oldest version first, with URL-encoded keys, the outcome and the replica
// version; --failed-only keeps the failed rows.
func TestReport(t *testing.T) {
	f := newFake(t)
	put(f, oddKey, "r1", []byte("first"), nil)
	put(f, oddKey, "r2", []byte("second"), nil)
	put(f, "data/kms.txt", "k1", []byte("kms"), map[string]string{hSSE: "aws:kms", hKMSKey: srcKMSKey})
	put(f, "data/s.txt", "s1", []byte("sierra"), keyA.Header())
	put(f, "data/x.txt", "x1", []byte("no key"), keyX.Header())
	spec := testSpec(f, "data", "backup")
	dir := t.TempDir()
	spec.Report = filepath.Join(dir, "report.csv")
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	e.run(t)
	if err := e.job.WriteReport(context.Background()); err != nil {
		t.Fatalf("WriteReport: %v", err)
	}
	b, err := os.ReadFile(spec.Report)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the report's directory holds %d files, want only the report (no temporary left)", len(entries))
	}
	rows := readReport(t, b)
	var got []string
	for _, r := range rows {
		got = append(got, r["Key"]+"@"+r["VersionId"]+" "+r["TaskStatus"])
	}
	want := []string{"data/a%20b%2C%22c%22%2B.txt@r1 succeeded", "data/a%20b%2C%22c%22%2B.txt@r2 succeeded",
		"data/kms.txt@k1 skipped", "data/s.txt@s1 succeeded", "data/x.txt@x1 failed"}
	if !slices.Equal(got, want) {
		t.Fatalf("report rows %q\nwant %q", got, want)
	}
	odd := replicas(f, "backup/"+strings.TrimPrefix(oddKey, "data/"))
	if len(odd) != 2 {
		t.Fatalf("%d replicas of the odd key, want 2", len(odd))
	}
	for i, r := range rows[:2] {
		if k, err := url.PathUnescape(r["Key"]); err != nil || k != oddKey {
			t.Errorf("Key %q decodes to %q, %v; want %q", r["Key"], k, err, oddKey)
		}
		if k, _ := url.PathUnescape(r["DestinationKey"]); k != "backup/"+strings.TrimPrefix(oddKey, "data/") {
			t.Errorf("DestinationKey %q decodes to %q", r["DestinationKey"], k)
		}
		if r["Bucket"] != srcBucket || r["DestinationBucket"] != dstBucket || r["HTTPStatusCode"] != "200" ||
			r["DestinationVersionId"] != odd[i].VersionID || r["SourceEncryption"] != "NOT-SSE" ||
			r["SourceETag"] != strings.Trim(odd[i].ETag, `"`) || r["ETagStatus"] != planner.ETagMatch || r["DeleteMarker"] != "false" {
			t.Errorf("report row %d: %v; want the replica %s", i, r, odd[i].VersionID)
		}
	}
	wantSize := map[int]string{0: "5", 1: "6"}
	for i, s := range wantSize {
		if rows[i]["Size"] != s {
			t.Errorf("row %d size %q, want %s", i, rows[i]["Size"], s)
		}
	}
	if k := rows[2]; k["ResultMessage"] != planner.ReasonKMSNotEnabled || k["KeyId"] != srcKMSKey || k["DestinationVersionId"] != "" {
		t.Errorf("skipped KMS row %v", k)
	}
	if s := rows[3]; s["KeyId"] != keyA.ID || s["ReplicaKeyId"] != keyR.ID || s["SourceEncryption"] != "SSE-C" ||
		s["ReplicaEncryption"] != "SSE-C" || s["DestinationVersionId"] != replicas(f, "backup/s.txt")[0].VersionID {
		t.Errorf("SSE-C row %v", s)
	}
	if x := rows[4]; x["ErrorCode"] != planner.CodeSSECKeyNotFound || x["ResultMessage"] != planner.ReasonNoKeyOpensVersion ||
		x["ReplicaEncryption"] != "" || x["DestinationVersionId"] != "" {
		t.Errorf("failed row %v", x)
	}

	var buf bytes.Buffer
	if err := job.WriteReport(context.Background(), e.db, srcBucket, &buf, true); err != nil {
		t.Fatal(err)
	}
	failed := readReport(t, buf.Bytes())
	if len(failed) != 1 || failed[0]["Key"] != "data/x.txt" || failed[0]["TaskStatus"] != "failed" {
		t.Errorf("failed-only report %v, want the one failed row", failed)
	}
}

// TestReportEveryDestination: with a replication configuration naming two
// destination buckets, the report has one row per version and destination,
// by destination first, each with its own replica.
func TestReportEveryDestination(t *testing.T) {
	f := newFake(t)
	f.CreateBucket("dst2", true)
	put(f, "data/a.txt", "a1", []byte("alpha"), nil)
	put(f, "data/b.txt", "b1", []byte("bravo"), nil)
	spec := testSpec(f, "data", "")
	spec.Dest = ""
	spec.ReplicationConfig = `{"Role": "", "Rules": [
		{"ID": "one", "Priority": 1, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
		 "Destination": {"Bucket": "arn:aws:s3:::dst"}},
		{"ID": "two", "Priority": 2, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
		 "Destination": {"Bucket": "arn:aws:s3:::dst2"}}]}`
	e := openEnv(t, f, spec, options{})
	e.run(t)
	var buf bytes.Buffer
	if err := job.WriteReport(context.Background(), e.db, srcBucket, &buf, false); err != nil {
		t.Fatal(err)
	}
	rows := readReport(t, buf.Bytes())
	var got []string
	for _, r := range rows {
		got = append(got, r["DestinationBucket"]+" "+r["Key"]+"@"+r["VersionId"]+" "+r["TaskStatus"]+" "+r["RuleId"])
		vs := f.Versions(r["DestinationBucket"], r["DestinationKey"])
		if len(vs) != 1 || vs[0].VersionID != r["DestinationVersionId"] {
			t.Errorf("%s/%s: report names replica %q, the bucket holds %d versions", r["DestinationBucket"], r["DestinationKey"],
				r["DestinationVersionId"], len(vs))
		}
	}
	want := []string{"dst data/a.txt@a1 succeeded one", "dst data/b.txt@b1 succeeded one",
		"dst2 data/a.txt@a1 succeeded two", "dst2 data/b.txt@b1 succeeded two"}
	if !slices.Equal(got, want) {
		t.Errorf("report rows %q\nwant %q", got, want)
	}
	// Each version was inspected once for both destinations.
	if n := opsOn(f, "HeadObject", srcBucket, "data/a.txt"); n != 1 {
		t.Errorf("%d HEADs of a.txt, want 1 for both destinations", n)
	}
}
