package e2e

// Helpers of the issue-3 tests (replication configurations, selection
// filters, preflight, verify, DSSE): reports with one row per (version,
// destination), and replication configurations written as the AWS CLI
// takes them.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// jsonObject is a piece of JSON.
type jsonObject = map[string]any

func bucketARN(bucket string) string { return "arn:aws:s3:::" + bucket }

// writeConfig writes a replication configuration (the JSON of
// `aws s3api put-bucket-replication --replication-configuration`).
func writeConfig(t *testing.T, cfg jsonObject) string {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return writeTempText(t, "replication.json", string(b))
}

// writeText writes a file in the test's temporary directory.
func writeTempText(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// report is a CSV report with every row, several per source version when
// the job has several destinations.
type destReport struct {
	path   string
	header []string
	rows   []map[string]string
	byVer  map[string][]map[string]string // key@versionId
}

func readDestReport(t *testing.T, path string) *destReport {
	t.Helper()
	header, rows := readReport(t, path)
	r := &destReport{path: path, header: header, rows: rows, byVer: map[string][]map[string]string{}}
	for _, m := range rows {
		k := m["Key"] + "@" + m["VersionId"]
		r.byVer[k] = append(r.byVer[k], m)
	}
	return r
}

// row is the row of one source version for destination bucket dest:
// every row names its destination in DestinationBucket, even for a version
// no rule sends there or a filter left out. Exactly one row must match.
func (r *destReport) row(t *testing.T, key, versionID, dest string) map[string]string {
	t.Helper()
	var found []map[string]string
	for _, m := range r.byVer[key+"@"+versionID] {
		if m["DestinationBucket"] == dest {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Errorf("report %s: %d rows for %q@%s to bucket %s, want 1 (rows: %v)",
			r.path, len(found), key, versionID, dest, r.byVer[key+"@"+versionID])
		return nil
	}
	return found[0]
}

// checkShape checks the report's columns and that it has n rows: one per
// source version and destination.
func (r *destReport) checkShape(t *testing.T, n int) {
	t.Helper()
	wantHeader := []string{"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage",
		"DestinationBucket", "DestinationKey", "DestinationVersionId", "SourceEncryption", "ReplicaEncryption", "KeyId"}
	if len(r.header) < len(wantHeader) || !slices.Equal(r.header[:len(wantHeader)], wantHeader) {
		t.Errorf("report %s: header %v, want it to start with %v", r.path, r.header, wantHeader)
	}
	for _, col := range []string{"Size", "SourceETag", "ReplicaETag", "ETagStatus"} {
		if !slices.Contains(r.header, col) {
			t.Errorf("report %s: the header lacks %s", r.path, col)
		}
	}
	if len(r.rows) != n {
		t.Errorf("report %s: %d rows, want %d (one per source version and destination)", r.path, len(r.rows), n)
	}
}

// keysUnder lists every version and delete marker under prefix in bucket
// (as "key@versionId").
func keysUnder(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, v := range page.Versions {
			out = append(out, aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId))
		}
		for _, m := range page.DeleteMarkers {
			out = append(out, aws.ToString(m.Key)+"@"+aws.ToString(m.VersionId)+" (delete marker)")
		}
	}
	return out
}

// wantEmpty fails the test if bucket holds anything.
func wantEmpty(t *testing.T, c *s3.Client, bucket, why string) {
	t.Helper()
	if got := keysUnder(t, c, bucket, ""); len(got) > 0 {
		t.Errorf("%s: bucket %s holds %v, want nothing", why, bucket, got)
	}
}

// kmsARN is how the lab server reports a KMS key id.
func kmsARN(name string) string { return "arn:aws:kms:" + name }
