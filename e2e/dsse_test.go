package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/internal/s3fake"
)

// fakeVersion is one version the fake source serves.
type fakeVersion struct {
	key, versionID string
	data           []byte
	sse, kmsKeyID  string // x-amz-server-side-encryption and its key id
	modified       time.Time
}

// fakeSource is the shared fake S3 (internal/s3fake) serving one
// versioned source bucket, for what the lab cannot hold (DSSE-KMS, a
// replication configuration without a MinIO remote target). The tool
// reaches it as its source endpoint, through a CA bundle that trusts it.
type fakeSource struct {
	*s3fake.Server
}

// newFakeSource serves versions (oldest first within a key) in bucket,
// with the replication configuration replication ("" = none).
func newFakeSource(t *testing.T, bucket string, versions []fakeVersion, replication string) *fakeSource {
	t.Helper()
	f := &fakeSource{s3fake.New(t)}
	var opts []s3fake.BucketOption
	if replication != "" {
		opts = append(opts, s3fake.Replication(replication))
	}
	f.CreateBucket(bucket, true, opts...)
	for _, v := range versions {
		f.Put(bucket, v.key, s3fake.Object{VersionID: v.versionID, Data: v.data, LastModified: v.modified,
			Header: map[string]string{"x-amz-server-side-encryption": v.sse, "x-amz-server-side-encryption-aws-kms-key-id": v.kmsKeyID}})
	}
	return f
}

// caBundle writes a PEM file trusting both the lab's CA and the fake's
// certificate.
func (f *fakeSource) caBundle(t *testing.T, lab *labenv.Lab) string {
	t.Helper()
	labCA, err := os.ReadFile(lab.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return writeTempText(t, "ca-bundle.pem", string(labCA)+"\n"+string(f.CertPEM()))
}

// check fails the test on any write to the source, and on requests the
// fake source answered with an error (what it does not hold or serve).
func (f *fakeSource) check(t *testing.T) {
	t.Helper()
	var writes, failed []string
	for _, r := range f.Requests() {
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			writes = append(writes, r.Op+" "+r.Method+" "+r.RawPath+"?"+r.RawQuery)
		case r.Status == http.StatusNotFound && r.Key == "" && strings.Contains(string(r.ReplyBody), "NotFoundError</Code>"):
			// A bucket without the configuration asked for: how S3
			// says "none".
		case r.Status >= 300:
			failed = append(failed, fmt.Sprintf("%s %s %s?%s → %d", r.Op, r.Method, r.RawPath, r.RawQuery, r.Status))
		}
	}
	if len(writes) > 0 {
		t.Errorf("the tool wrote to the source: %v", writes)
	}
	if len(failed) > 0 {
		t.Errorf("requests the fake source does not serve: %v", failed)
	}
}

// dsseWorld is the fake source's content: two plain keys around a DSSE-KMS
// version, which has a newer plain version.
func dsseWorld(dsseKeyARN string) []fakeVersion {
	r := mrand.New(mrand.NewPCG(51, 52))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	return []fakeVersion{
		{key: "plain/a.txt", versionID: "va1", data: content(r, 1500), modified: t0},
		{key: "plain/a.txt", versionID: "va2", data: content(r, 1600), sse: "AES256", modified: t0.Add(time.Minute)},
		{key: "secret/dsse.bin", versionID: "vd1", data: content(r, 2000), sse: "aws:kms:dsse", kmsKeyID: dsseKeyARN, modified: t0.Add(2 * time.Minute)},
		{key: "secret/dsse.bin", versionID: "vd2", data: content(r, 2100), modified: t0.Add(3 * time.Minute)},
		{key: "zz/b.bin", versionID: "vb1", data: content(r, 700), modified: t0.Add(4 * time.Minute)},
	}
}

// TestDSSESourceAgainstTheLab: a DSSE-KMS source version (served by a
// fake S3, the lab has none) with KMS replication enabled is replicated as
// DSSE-KMS, which the lab server refuses (400). The run must finish (exit
// 3) with that version failed with an error a user can act on, its newer
// version waiting for it (PrecedingVersionFailed), and the plain versions
// of the same source streamed to the lab intact.
//
// The KMS probe is left on: it writes SSE-KMS (not DSSE) with the replica
// key, which the lab accepts, so it does not get in the way; it also does
// not find out that the destination refuses DSSE.
func TestDSSESourceAgainstTheLab(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	dst := lab.Bucket(t, c, "dsse-dst", true)
	const srcBucket = "fake-dsse-src"
	dsseKey := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	versions := dsseWorld(dsseKey)
	fake := newFakeSource(t, srcBucket, versions, "")
	dir := t.TempDir()
	db, reportPath := filepath.Join(dir, "job.db"), filepath.Join(dir, "report.csv")
	replicaKey := lab.KMSKeys[1]

	res := tool(t, lab, nil, "run", "--source", "s3://"+srcBucket, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
		"--source-endpoint-url", fake.URL(), "--dest-endpoint-url", lab.Endpoint, "--ca-bundle", fake.caBundle(t, lab),
		"--replicate-kms", "--replica-kms-key-id", replicaKey)
	if res.code != 3 {
		t.Fatalf("exit %d, want 3 (the DSSE version fails, the run finishes)\n%s", res.code, res)
	}
	if strings.Contains(res.stderr, "panic") || strings.Contains(res.stderr, "goroutine ") {
		t.Fatalf("the run crashed:\n%s", res)
	}
	fake.check(t)
	rep := readDestReport(t, reportPath)
	if len(rep.rows) != len(versions) {
		t.Errorf("report has %d rows, want %d", len(rep.rows), len(versions))
	}
	listed := listVersions(t, c, dst)
	for _, v := range versions {
		row := rep.row(t, v.key, v.versionID, dst)
		if row == nil {
			continue
		}
		switch v.versionID {
		case "vd1":
			if row["TaskStatus"] != "failed" || row["SourceEncryption"] != "DSSE-KMS" {
				t.Errorf("DSSE version: %s, source encryption %q, want failed DSSE-KMS (%v)", row["TaskStatus"], row["SourceEncryption"], row)
			}
			if row["ReplicaKeyId"] != replicaKey && row["ReplicaKeyId"] != kmsARN(replicaKey) {
				t.Errorf("DSSE version: ReplicaKeyId %q, want the rule's key %s", row["ReplicaKeyId"], replicaKey)
			}
			if row["ErrorCode"] == "" || row["HTTPStatusCode"] != "400" {
				t.Errorf("DSSE version: ErrorCode %q HTTP %q, want the server's code and 400", row["ErrorCode"], row["HTTPStatusCode"])
			}
			// A user must learn from the row that the destination refused
			// the encryption, not only that some request failed: the
			// server's explanation is kept (the lab's says "The encryption
			// method is not supported"; it does not name DSSE, and neither
			// does the tool's part of the message).
			if msg := strings.ToLower(row["ResultMessage"]); !strings.Contains(msg, "dsse") && !strings.Contains(msg, "encryption") {
				t.Errorf("DSSE version: the error does not say that the encryption was refused: %s %q", row["ErrorCode"], row["ResultMessage"])
			}
			t.Logf("DSSE version: %s %s %q", row["ErrorCode"], row["HTTPStatusCode"], row["ResultMessage"])
		case "vd2":
			if row["TaskStatus"] != "failed" || row["ErrorCode"] != "PrecedingVersionFailed" {
				t.Errorf("the version after the DSSE one: %s %s, want failed PrecedingVersionFailed (%q)", row["TaskStatus"], row["ErrorCode"], row["ResultMessage"])
			}
		default:
			if row["TaskStatus"] != "succeeded" || row["ETagStatus"] != "match" {
				t.Errorf("%s@%s: %s ETag %s, want succeeded with the source's ETag (%q)", v.key, v.versionID, row["TaskStatus"], row["ETagStatus"], row["ResultMessage"])
			}
		}
	}
	// The destination holds the plain versions, in order, and nothing of
	// the DSSE key.
	if got := listed["secret/dsse.bin"]; len(got) != 0 {
		t.Errorf("the DSSE key has %d versions on the destination, want none", len(got))
	}
	for _, key := range []string{"plain/a.txt", "zz/b.bin"} {
		var src []fakeVersion
		for _, v := range versions {
			if v.key == key {
				src = append(src, v)
			}
		}
		got := listed[key]
		if len(got) != len(src) {
			t.Errorf("%s: %d replica versions, want %d", key, len(got), len(src))
			continue
		}
		for i, v := range src {
			data, h := getVersion(t, c, dst, key, got[i].versionID, nil)
			if h == nil {
				continue
			}
			if string(data) != string(v.data) {
				t.Errorf("%s replica %d: %d bytes differ from the source's %d", key, i, len(data), len(v.data))
			}
			wantSSE := ""
			if v.sse == "AES256" {
				wantSSE = "AES256"
			}
			if string(h.ServerSideEncryption) != wantSSE {
				t.Errorf("%s replica %d: SSE %q, want %q", key, i, h.ServerSideEncryption, wantSSE)
			}
		}
	}
	// verify --content reads both sides (the fake source too) and agrees.
	if v := tool(t, lab, nil, "verify", "--db", db, "--content"); v.code != 0 {
		t.Errorf("verify --content: exit %d, want 0\n%s", v.code, v)
	}
	fake.check(t)
}

// TestReplicationConfigFromSource: --replication-config-from-source reads
// the source bucket's configuration with GetBucketReplication. The lab
// server refuses PutBucketReplication without a MinIO remote target
// (XMinioAdminRemoteTargetNotFoundError, and it wants its own ARNs), so the
// configuration is served by the fake source, and the lab is the
// destination: the Disabled rule that would take everything does nothing,
// the plain/ rule sets the storage class, the secret/ rule does not opt in
// to KMS, so the DSSE version is skipped (not failed) and the version
// after it is copied.
func TestReplicationConfigFromSource(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	dst := lab.Bucket(t, c, "fromsrc-dst", true)
	const srcBucket = "fake-config-src"
	versions := dsseWorld("arn:aws:kms:us-east-1:111122223333:key/abcd")
	ns := `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	dstARN := bucketARN(dst)
	cfg := `<ReplicationConfiguration ` + ns + `><Role>arn:aws:iam::111122223333:role/replication</Role>` +
		`<Rule><ID>plain-rrs</ID><Priority>1</Priority><Status>Enabled</Status><Filter><Prefix>plain/</Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<Destination><Bucket>` + dstARN + `</Bucket><StorageClass>REDUCED_REDUNDANCY</StorageClass></Destination></Rule>` +
		`<Rule><ID>everything-off</ID><Priority>9</Priority><Status>Disabled</Status><Filter><Prefix></Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<Destination><Bucket>` + dstARN + `</Bucket></Destination></Rule>` +
		`<Rule><ID>secret-no-kms</ID><Priority>2</Priority><Status>Enabled</Status><Filter><Prefix>secret/</Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Disabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>` +
		`<Destination><Bucket>` + dstARN + `</Bucket></Destination></Rule>` +
		`</ReplicationConfiguration>`
	fake := newFakeSource(t, srcBucket, versions, cfg)
	dir := t.TempDir()
	db, reportPath := filepath.Join(dir, "job.db"), filepath.Join(dir, "report.csv")

	res := tool(t, lab, nil, "run", "--source", "s3://"+srcBucket, "--replication-config-from-source", "--db", db,
		"--report", reportPath, "--source-endpoint-url", fake.URL(), "--dest-endpoint-url", lab.Endpoint,
		"--ca-bundle", fake.caBundle(t, lab))
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res)
	}
	fake.check(t)
	if !strings.Contains(res.stderr, "everything-off") {
		t.Errorf("the run does not tell that rule everything-off is Disabled:\n%s", res.stderr)
	}
	rep := readDestReport(t, reportPath)
	listed := listVersions(t, c, dst)
	for _, v := range versions {
		row := rep.row(t, v.key, v.versionID, dst)
		if row == nil {
			continue
		}
		var wantStatus, wantRule, wantMsg string
		switch v.versionID {
		case "va1", "va2":
			wantStatus, wantRule = "succeeded", "plain-rrs"
		case "vd1":
			wantStatus, wantRule, wantMsg = "skipped", "secret-no-kms", "KMS replication not enabled"
		case "vd2":
			wantStatus, wantRule = "succeeded", "secret-no-kms"
		default:
			wantStatus, wantMsg = "skipped", "no enabled replication rule replicates this version to bucket "+dst
		}
		if row["TaskStatus"] != wantStatus || row["RuleId"] != wantRule || !strings.Contains(row["ResultMessage"], wantMsg) {
			t.Errorf("%s@%s: %s by %q (%q), want %s by %q (%q)", v.key, v.versionID, row["TaskStatus"], row["RuleId"], row["ResultMessage"],
				wantStatus, wantRule, wantMsg)
		}
	}
	for key, want := range map[string]struct {
		n     int
		class string
	}{"plain/a.txt": {2, "REDUCED_REDUNDANCY"}, "secret/dsse.bin": {1, "STANDARD"}, "zz/b.bin": {0, ""}} {
		got := listed[key]
		if len(got) != want.n {
			t.Errorf("%s: %d replica versions, want %d", key, len(got), want.n)
			continue
		}
		for _, dv := range got {
			if _, h := getVersion(t, c, dst, key, dv.versionID, nil); h != nil && storageClassOf(h.StorageClass) != want.class {
				t.Errorf("%s@%s: storage class %s, want %s", key, dv.versionID, storageClassOf(h.StorageClass), want.class)
			}
		}
	}
}
