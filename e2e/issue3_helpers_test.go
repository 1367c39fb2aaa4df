package e2e

// Helpers of the issue-3 tests (replication configurations, selection
// filters, preflight, verify, DSSE): reports with one row per (version,
// destination), per-destination replica checks with a storage class and a
// rule, and replication configurations written as the AWS CLI takes them.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// want is what must happen to one source version for one destination.
type destWant struct {
	status  string // report TaskStatus
	enc     string // replica encryption (encNone, encS3, encKMS, encC); with succeeded
	kms     string // replica KMS key id as the server reports it (arn:aws:kms:NAME)
	ssec    *customerKey
	class   string   // replica storage class; "" = the source's
	rule    string   // report RuleId; "" = not checked
	message string   // substring of ResultMessage; "" = not checked
	more    []string // more substrings of ResultMessage
	code    string   // report ErrorCode; "" = not checked
}

func (w destWant) replicated() bool { return w.status == "succeeded" }

// checkDestination checks one destination bucket against the source world:
// exactly the succeeded versions of each key, in the source's order, with
// the source's bytes, tags and metadata, the wanted encryption and storage
// class; no other key; and the report row of every (version, dest).
func checkDestination(t *testing.T, w *world, c *s3.Client, dest string, rep *destReport, expect func(*srcVersion) destWant) {
	t.Helper()
	listed := listVersions(t, c, dest)
	for key := range listed {
		if _, ok := w.versions[key]; !ok {
			t.Errorf("%s: unexpected key %q (not in the source)", dest, key)
		}
	}
	for _, key := range w.keys {
		var wantVs []*srcVersion
		for _, v := range w.versions[key] {
			if expect(v).replicated() {
				wantVs = append(wantVs, v)
			}
		}
		got := listed[key]
		if len(got) != len(wantVs) {
			t.Errorf("%s: %q has %d replica versions, want %d", dest, key, len(got), len(wantVs))
		}
		replicaOf := map[string]string{}
		for i, sv := range wantVs {
			if i >= len(got) {
				break
			}
			dv := got[i]
			replicaOf[sv.versionID] = dv.versionID
			if dv.deleteMarker != sv.deleteMarker {
				t.Errorf("%s: %q replica %d: delete marker %v, want %v (order differs from the source)", dest, key, i, dv.deleteMarker, sv.deleteMarker)
				continue
			}
			if sv.deleteMarker {
				continue
			}
			e := expect(sv)
			data, h := getVersion(t, c, dest, key, dv.versionID, e.ssec)
			if h == nil {
				continue
			}
			if string(data) != string(sv.data) {
				t.Errorf("%s: %q replica %d: %d bytes differ from the source's %d", dest, key, i, len(data), len(sv.data))
			}
			checkEncryption(t, dest+"/"+key, h, expectation{replicaEnc: e.enc, replicaKMS: e.kms, replicaKey: e.ssec})
			wantClass := e.class
			if wantClass == "" {
				wantClass = firstNonEmpty(sv.storageClass, "STANDARD")
			}
			if got := storageClassOf(h.StorageClass); got != wantClass {
				t.Errorf("%s: %q replica %d: storage class %s, want %s", dest, key, i, got, wantClass)
			}
			if tags := tagsOf(t, c, dest, key, dv.versionID); len(tags)+len(sv.tags) > 0 && !sameStringMap(tags, sv.tags) {
				t.Errorf("%s: %q replica %d: tags %v, want %v", dest, key, i, tags, sv.tags)
			}
			if len(h.Metadata)+len(sv.meta) > 0 && !sameStringMap(h.Metadata, sv.meta) {
				t.Errorf("%s: %q replica %d: metadata %v, want %v", dest, key, i, h.Metadata, sv.meta)
			}
		}
		if rep == nil {
			continue
		}
		for _, sv := range w.versions[key] {
			e := expect(sv)
			row := rep.row(t, key, sv.versionID, dest)
			if row == nil {
				continue
			}
			where := dest + ": report " + key + "@" + sv.versionID
			if row["TaskStatus"] != e.status {
				t.Errorf("%s: TaskStatus %s, want %s (%s %s)", where, row["TaskStatus"], e.status, row["ErrorCode"], row["ResultMessage"])
			}
			if e.rule != "" && row["RuleId"] != e.rule {
				t.Errorf("%s: RuleId %q, want %q (%s)", where, row["RuleId"], e.rule, row["ResultMessage"])
			}
			for _, m := range append([]string{e.message}, e.more...) {
				if !strings.Contains(row["ResultMessage"], m) {
					t.Errorf("%s: ResultMessage %q, want it to contain %q", where, row["ResultMessage"], m)
				}
			}
			if e.code != "" && row["ErrorCode"] != e.code {
				t.Errorf("%s: ErrorCode %q, want %q (%s)", where, row["ErrorCode"], e.code, row["ResultMessage"])
			}
			if e.replicated() {
				if row["DestinationBucket"] != dest || row["DestinationVersionId"] != replicaOf[sv.versionID] || row["HTTPStatusCode"] != "200" {
					t.Errorf("%s: destination %s@%s HTTP %s, want %s@%s 200", where, row["DestinationBucket"],
						row["DestinationVersionId"], row["HTTPStatusCode"], dest, replicaOf[sv.versionID])
				}
				if !sv.deleteMarker && (row["SourceEncryption"] != sv.enc || row["ReplicaEncryption"] != e.enc) {
					t.Errorf("%s: encryption %s -> %s, want %s -> %s", where, row["SourceEncryption"], row["ReplicaEncryption"], sv.enc, e.enc)
				}
			} else if row["DestinationVersionId"] != "" {
				t.Errorf("%s: %s but has a DestinationVersionId %q", where, row["TaskStatus"], row["DestinationVersionId"])
			}
		}
	}
}

func sameStringMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
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
