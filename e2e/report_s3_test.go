package e2e

import (
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestReportToS3: --report s3://bucket/prefix/ writes the completion report
// in S3 Batch Operations' layout: manifest.json naming result files of at
// most --report-part-rows rows, each with its MD5, with Batch Operations'
// seven columns; read back with an S3 client, every version has its row.
// With credentials that cannot upload it, the run says where the report
// was kept, and it is all there. report --format manifest lists the
// failed versions as a Batch Operations manifest.
func TestReportToS3(t *testing.T) {
	lab, c, w := newSource(t, "rep-src")
	dst := lab.Bucket(t, c, "rep-dst", true)
	reports := lab.Bucket(t, c, "rep-reports", false)
	missing := newCustomerKey("missing", false)
	for k := range 7 {
		w.put(t, &srcVersion{key: fmt.Sprintf("k %d", k), data: []byte(fmt.Sprint(k)), enc: encNone})
	}
	w.put(t, &srcVersion{key: "secret", data: []byte("s"), enc: encC, ssec: missing})
	db, _ := jobFiles(t)
	keyFile := writeKeyFile(t, []*customerKey{newCustomerKey("other", true)})
	res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--keys", keyFile,
		"--endpoint-url", lab.Endpoint, "--report", "s3://"+reports+"/audit/", "--report-part-rows", "3")
	if res.code != 3 {
		t.Fatalf("%s", res)
	}
	ctx := context.Background()
	get := func(key string) []byte {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(reports), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return b
	}
	keys := keysUnder(t, c, reports, "audit/")
	var manifestKey string
	for _, k := range keys {
		if strings.HasSuffix(strings.Split(k, "@")[0], "/manifest.json") {
			manifestKey = strings.Split(k, "@")[0]
		}
	}
	if !regexp.MustCompile(`^audit/job-` + regexp.QuoteMeta(w.bucket) + `-\d{8}T\d{6}Z/manifest.json$`).MatchString(manifestKey) {
		t.Fatalf("no manifest.json under audit/job-…: %v", keys)
	}
	var m struct {
		Format       string
		ReportSchema string
		Results      []struct{ TaskExecutionStatus, Bucket, MD5Checksum, Key string }
	}
	if err := json.Unmarshal(get(manifestKey), &m); err != nil {
		t.Fatal(err)
	}
	if m.Format != "Report_CSV_20180820" || m.ReportSchema != "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage" {
		t.Errorf("manifest.json %+v", m)
	}
	rows := map[string]string{} // key@version → TaskStatus
	full := map[string]string{} // key@version → the row
	statuses := map[string]int{}
	for _, r := range m.Results {
		body := get(r.Key)
		if sum := md5.Sum(body); hex.EncodeToString(sum[:]) != r.MD5Checksum || r.Bucket != reports {
			t.Errorf("%s: MD5 %x, manifest says %s (bucket %s)", r.Key, sum, r.MD5Checksum, r.Bucket)
		}
		recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil || len(recs) > 3 {
			t.Errorf("%s: %d rows (at most 3), %v", r.Key, len(recs), err)
		}
		for _, rec := range recs {
			if len(rec) != 7 || rec[3] != r.TaskExecutionStatus || rec[0] != w.bucket {
				t.Errorf("%s: row %v", r.Key, rec)
			}
			rows[rec[1]+"@"+rec[2]] = rec[3]
			full[rec[1]+"@"+rec[2]] = strings.Join(rec, ",")
		}
		statuses[r.TaskExecutionStatus]++
	}
	if len(rows) != w.total() || statuses["succeeded"] != 3 || statuses["failed"] != 1 {
		t.Errorf("%d rows in %v result files, want %d rows: 7 succeeded in 3 files, 1 failed", len(rows), statuses, w.total())
	}
	if rows["k%202@"+w.versions["k 2"][0].versionID] != "succeeded" || rows["secret@"+w.versions["secret"][0].versionID] != "failed" {
		t.Errorf("rows %v", rows)
	}
	// Each row is the local report's row, its first seven columns.
	local := tool(t, lab, nil, "report", "--db", db)
	recs, err := csv.NewReader(strings.NewReader(local.stdout)).ReadAll()
	if err != nil || len(recs) != w.total()+1 {
		t.Fatalf("the local report: %d rows, %v", len(recs), err)
	}
	for _, rec := range recs[1:] {
		if got, want := full[rec[1]+"@"+rec[2]], strings.Join(rec[:7], ","); got != want {
			t.Errorf("%s@%s: %q in S3, %q in the local report", rec[1], rec[2], got, want)
		}
	}

	// The failed ones as a Batch Operations manifest.
	man := tool(t, lab, nil, "report", "--db", db, "--failed-only", "--format", "manifest")
	if want := w.bucket + ",secret," + w.versions["secret"][0].versionID + "\n"; man.code != 0 || man.stdout != want {
		t.Errorf("report --format manifest: %q, want %q (%s)", man.stdout, want, man)
	}

	js := tool(t, lab, nil, "report", "--db", db, "--format", "json")
	lines := strings.Split(strings.TrimSpace(js.stdout), "\n")
	var first map[string]string
	if js.code != 0 || len(lines) != w.total() || json.Unmarshal([]byte(lines[0]), &first) != nil || first["Bucket"] != w.bucket ||
		first["TaskStatus"] == "" {
		t.Errorf("report --format json: %d lines, first %v (%s)", len(lines), first, js)
	}

	// An upload that fails keeps the report and says where.
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte(fmt.Sprintf("[bad]\naws_access_key_id = %s\naws_secret_access_key = wrong\n", lab.AccessKey())), 0o600)
	bad := toolEnv(t, lab, nil, []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds}, "run", "--db", db, "--keys", keyFile,
		"--report-profile", "bad")
	kept := regexp.MustCompile(`it is kept in (\S+)`).FindStringSubmatch(bad.stderr)
	if bad.code == 0 || kept == nil {
		t.Fatalf("a report that could not be uploaded: %s", bad)
	}
	defer os.RemoveAll(kept[1])
	if _, err := os.Stat(filepath.Join(kept[1], "manifest.json")); err != nil {
		t.Errorf("the kept report has no manifest.json: %v", err)
	}
}
